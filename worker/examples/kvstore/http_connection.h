// One HTTP/1.1 client connection of kvstore.
//
// Lifetime: created by HttpServer on accept, deleted in its own libuv close
// callback (libuv may call back until then); the server learns of it through
// HttpServer::forget(). Requests are answered in order as they are parsed,
// so pipelined requests get their responses in order.
//
// Draining never cuts a request off: once the server drains, the next
// response says "Connection: close" and the connection ends after it.
// Ending a connection is a graceful close: FIN after the last response, then
// read and discard until the client closes (or a linger timeout), so the
// kernel never answers unread bytes with a RST that could destroy the
// response on its way to the client.
#pragma once

#include <http_parser.h>
#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>

#include "baton/uv_handle.h"
#include "routes.h"

namespace kvstore {

class HttpServer;

class HttpConnection {
 public:
  // Accepts one pending connection from `listener`; returns null on failure.
  static HttpConnection* accept(uv_stream_t* listener, bool is_tcp, HttpServer& server);

  // Drain deadline or fast stop: close now, whatever state.
  void close();

 private:
  HttpConnection(HttpServer& server) : server_(server) {}
  ~HttpConnection() = default;

  uv_stream_t* stream() { return &handle_.stream; }
  void start();
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void respond(const Response& response, bool head_request);
  void finish_after_writes();  // FIN once queued writes are out, then linger
  void write(std::string data);

  static const http_parser_settings& settings();
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, std::size_t len);
  static int on_body(http_parser* p, const char* at, std::size_t len);
  static int on_message_complete(http_parser* p);

  HttpServer& server_;
  uv_any_handle handle_{};
  http_parser parser_{};
  Request request_;
  std::string url_;
  bool in_request_ = false;   // between the first byte of a request and its response
  bool body_too_large_ = false;
  bool finishing_ = false;    // last response queued; reading only to discard
  bool peer_done_ = false;   // the client half-closed: close once our writes are out
  bool closed_ = false;
  std::size_t writes_pending_ = 0;
  std::unique_ptr<baton::Timer> linger_;
  char read_buffer_[16 * 1024];
};

}  // namespace kvstore
