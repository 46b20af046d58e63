"""Just enough HTTP/1.1 for pykv: requests with Content-Length, keep-alive."""

MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large",
           503: "Service Unavailable"}


class Request:
    def __init__(self, method, path, body, keep_alive):
        self.method, self.path, self.body, self.keep_alive = method, path, body, keep_alive


def parse(buffer):
    """(request, bytes used) for the first whole request in `buffer`, (None, 0)
    when it is not whole yet. A malformed one is a request with method None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return (Request(None, "", b"", False), len(buffer)) if len(buffer) > MAX_HEAD else (None, 0)
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return Request(None, "", b"", False), len(buffer)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0) if headers.get("content-length", "0").isdigit() else -1
    if length < 0 or length > MAX_BODY or "transfer-encoding" in headers:
        return Request(None, "", b"", False), len(buffer)
    if len(buffer) < end + 4 + length:
        return None, 0
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if parts[2] == "HTTP/1.1" else connection == "keep-alive"
    body = bytes(buffer[end + 4:end + 4 + length])
    return Request(parts[0], parts[1], body, keep_alive), end + 4 + length


def response(status, body, keep_alive, content_type="text/plain"):
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
    return head.encode() + body
