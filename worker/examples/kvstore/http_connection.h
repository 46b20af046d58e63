// One HTTP/1.1 client connection of kvstore.
//
// Lifetime: created by HttpServer (accept, or adopt in a handoff), deleted in
// its own libuv close callback (libuv may call back until then); the server
// learns of it through HttpServer::forget(). Requests are answered in order as
// they are parsed, so pipelined requests get their responses in order.
//
// Draining never cuts a request off: once the server drains, the next
// response says "Connection: close" and the connection ends after it.
// Ending a connection is a graceful close: FIN after the last response, then
// read and discard until the client closes (or a linger timeout), so the
// kernel never answers unread bytes with a RST that could destroy the
// response on its way to the client.
//
// Handoff: pause() stops reading between two reads, so the only bytes not yet
// answered are those of an incomplete request; export_handoff() hands them
// over with the fd, and the new worker's connection processes them first
// when it resumes. Responses still queued (a client that reads slowly, or
// not at all) move too: the new worker writes them before anything else,
// and this side detaches from the socket (on a dup of its fd) so that it
// can write none of them twice. Nobody waits for a slow reader.
#pragma once

#include <http_parser.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "baton/connection.h"
#include "baton/uv_handle.h"
#include "routes.h"

namespace kvstore {

class HttpConnection;

// What a connection needs from the server that owns it: the loop, answers to
// requests, whether it drains, and to hear of it when it opens and is gone.
class ConnectionOwner {
 public:
  virtual uv_loop_t* loop() const = 0;
  virtual Response handle(const Request& request) = 0;
  virtual bool draining() const = 0;
  virtual void adopt(HttpConnection* connection) = 0;
  // A new id for each connection (lent ahead by it in a handoff), never reused.
  virtual std::uint64_t next_connection_id() = 0;
  virtual void forget(HttpConnection* connection) = 0;

 protected:
  ~ConnectionOwner() = default;
};

class HttpConnection {
 public:
  // Accepts one pending connection from `listener` and starts reading; null on failure.
  static HttpConnection* accept(uv_stream_t* listener, bool is_tcp, ConnectionOwner& server);
  // Takes over a connection another worker handed over (or lent ahead: then
  // the bytes come later, with take_handed()). Not read until resume().
  static HttpConnection* adopt(baton::HandedConnection handed, ConnectionOwner& server);
  // A connection lent ahead, named in the pause: what the old worker had read and queued.
  void take_handed(baton::HandedConnection handed);

  // Drain deadline, fast stop, or COMMIT on the old side: close now, whatever
  // state (closing our fd does not end a connection another process holds).
  void close();

  void pause();   // stop reading; the request in progress stays in partial_
  void resume();  // write unsent bytes and process pending ones (adopted), then read again
  // Closing connections stay behind: they finish writing, then close.
  bool exportable() const { return !finishing_ && !closed_; }
  bool finishing() const { return finishing_ && !closed_; }
  std::uint64_t id() const { return id_; }
  std::uint64_t last_read_ms() const { return last_read_ms_; }  // the loop's clock: when the client last sent
  int fd() const;  // -1 once closed
  // Hands the connection over. Without queued output it lends our fd (kept
  // paused here until COMMIT or RESUME). With queued output it detaches: the
  // fd goes out as a dup, owned by `detached`, and this object closes.
  baton::Result<baton::ExportedConnection> export_handoff(baton::UniqueFd& detached);

 private:
  HttpConnection(ConnectionOwner& server, bool is_tcp);
  ~HttpConnection() = default;

  uv_stream_t* stream() { return &handle_.stream; }
  void start_reading();
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void process(const char* data, std::size_t len);
  void respond(const Response& response, bool head_request);
  void finish_after_writes();  // FIN once queued writes are out, then linger
  void write(std::string data);
  std::string unsent() const;  // what libuv has queued but not yet written, in order

  static const http_parser_settings& settings();
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, std::size_t len);
  static int on_body(http_parser* p, const char* at, std::size_t len);
  static int on_message_complete(http_parser* p);

  ConnectionOwner& server_;
  const std::uint64_t id_;
  uv_any_handle handle_{};
  http_parser parser_{};
  Request request_;
  std::string url_;
  std::string partial_;        // bytes of the request in progress, since the last complete one
  std::string pending_input_;  // adopted: bytes the old worker had read but not answered
  std::string unsent_output_;  // adopted: responses the old worker had queued but not sent
  std::uint64_t last_read_ms_ = 0;
  bool request_complete_ = false;
  bool head_request_ = false;
  bool body_too_large_ = false;
  bool reading_ = false;
  bool finishing_ = false;    // last response queued; reading only to discard
  bool peer_done_ = false;    // the client half-closed: close once our writes are out
  bool closed_ = false;
  std::size_t writes_pending_ = 0;
  std::deque<std::string*> queued_;  // the data of each write in flight, oldest first
  std::unique_ptr<baton::Timer> linger_;
};

}  // namespace kvstore
