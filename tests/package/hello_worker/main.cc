// hello_worker: the smallest worker worth running under baton. It answers
// every connection with one HTTP response and closes it; it drains by
// closing its listener. Built by tests/package/package_test.sh against an
// installed libbaton, once with find_package and once with pkg-config.
#include <baton/worker.h>
#include <uv.h>

#include <cstdio>
#include <memory>
#include <string>

namespace {

const std::string kResponse =
    "HTTP/1.1 200 OK\r\nContent-Length: 33\r\nConnection: close\r\n\r\nhello from an installed libbaton\n";

// A client and the request bytes read so far.
struct Client {
  uv_tcp_t tcp;
  std::string request;
};

void close_client(uv_stream_t* stream) {
  uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
}

// The whole request head is read before answering: closing a socket with
// unread bytes would reset the connection and lose the answer.
void on_request(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
  auto* client = static_cast<Client*>(stream->data);
  if (n > 0) client->request.append(buf->base, static_cast<std::size_t>(n));
  delete[] buf->base;
  if (n < 0) return close_client(stream);
  if (client->request.find("\r\n\r\n") == std::string::npos) return;
  uv_read_stop(stream);
  auto* req = new uv_write_t;
  uv_buf_t out = uv_buf_init(const_cast<char*>(kResponse.data()), static_cast<unsigned>(kResponse.size()));
  uv_write(req, stream, &out, 1, [](uv_write_t* w, int) {
    close_client(w->handle);
    delete w;
  });
}

void on_connection(uv_stream_t* server, int status) {
  if (status != 0) return;
  auto* client = new Client;
  uv_tcp_init(server->loop, &client->tcp);
  client->tcp.data = client;
  auto* stream = reinterpret_cast<uv_stream_t*>(&client->tcp);
  if (uv_accept(server, stream) != 0) return close_client(stream);
  uv_read_start(
      stream,
      [](uv_handle_t*, std::size_t size, uv_buf_t* buf) { *buf = uv_buf_init(new char[size], static_cast<unsigned>(size)); },
      on_request);
}

}  // namespace

int main() {
  uv_loop_t* loop = uv_default_loop();
  auto worker = baton::Worker::create(loop, {.name = "hello_worker", .standalone_listen = {"http=tcp://127.0.0.1:8080"}});
  if (!worker) {
    std::fprintf(stderr, "hello_worker: %s\n", worker.status().message().c_str());
    return 1;
  }
  auto fd = (*worker)->take_listener("http");
  if (!fd) return 1;
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  uv_tcp_open(&server, fd->release());
  uv_listen(reinterpret_cast<uv_stream_t*>(&server), 128, on_connection);
  (*worker)->on_drain([&](const baton::DrainRequest&) {
    uv_close(reinterpret_cast<uv_handle_t*>(&server), nullptr);
    std::fprintf(stderr, "hello_worker: drained\n");
  });
  if (!(*worker)->ready()) return 1;
  std::fprintf(stderr, "hello_worker: serving\n");
  uv_run(loop, UV_RUN_DEFAULT);
  worker->reset();
  return 0;
}
