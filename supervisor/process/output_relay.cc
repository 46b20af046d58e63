#include "output_relay.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <string_view>

#include "logging.h"

namespace baton {
namespace {

// A line longer than this is logged in pieces: a worker cannot make baton
// hold an unbounded line in memory.
constexpr std::size_t kMaxLine = 8192;

}  // namespace

Result<OutputRelay*> OutputRelays::create() {
  relays_.push_back(std::unique_ptr<OutputRelay>(new OutputRelay(*this)));
  OutputRelay* relay = relays_.back().get();
  relay->self_ = std::prev(relays_.end());
  auto init = [](uv_loop_t* loop, uv_pipe_t* pipe) { return uv_pipe_init(loop, pipe, 0); };
  if (Status st = relay->pipe_.init(loop_, init, relay); !st) {
    discard(relay);
    return st.with_context("pipe for a worker's output");
  }
  return relay;
}

Result<OutputRelay*> OutputRelays::adopt(int fd) {
  auto relay = create();
  if (!relay) {
    ::close(fd);
    return relay;
  }
  if (int rc = uv_pipe_open((*relay)->pipe_.get(), fd); rc != 0) {
    ::close(fd);
    discard(*relay);
    return Status::from_errno(-rc, "adopt a worker's output pipe");
  }
  return relay;
}

int OutputRelays::fd_of(const std::string& who, const char* stream) const {
  for (const auto& r : relays_) {
    uv_os_fd_t fd = -1;
    if (r->who_ == who && std::string_view(r->stream_name_) == stream &&
        uv_fileno(reinterpret_cast<const uv_handle_t*>(r->pipe_.get()), &fd) == 0)
      return fd;
  }
  return -1;
}

void OutputRelays::finish(std::chrono::milliseconds limit) {
  Timer deadline(loop_);
  bool expired = false;
  deadline.start(limit, [&expired] { expired = true; });
  while (!relays_.empty() && !expired) uv_run(loop_, UV_RUN_ONCE);
}

void OutputRelay::start(std::string who, const char* stream_name) {
  who_ = std::move(who);
  stream_name_ = stream_name;
  logger_ = worker_output_logger(stream_name);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(pipe_.get()),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* self = static_cast<OutputRelay*>(h->data);
        *buf = uv_buf_init(self->buffer_, sizeof self->buffer_);
      },
      &OutputRelay::on_read);
}

void OutputRelay::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<OutputRelay*>(stream->data);
  if (self == nullptr) return;
  if (nread > 0) return self->take(buf->base, static_cast<std::size_t>(nread));
  if (nread == 0) return;
  // EOF (every writer is gone) or an error: say what is left, then go.
  if (!self->partial_.empty()) self->log_line(self->partial_);
  self->owner_.discard(self);  // destroys self; its handle closes
}

void OutputRelay::take(const char* data, std::size_t len) {
  std::string_view rest(data, len);
  for (std::size_t nl; (nl = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(nl + 1)) {
    partial_.append(rest.substr(0, nl));
    log_line(partial_);
    partial_.clear();
  }
  partial_.append(rest);
  while (partial_.size() >= kMaxLine) {
    log_line(std::string_view(partial_).substr(0, kMaxLine));
    partial_.erase(0, kMaxLine);
  }
}

void OutputRelay::log_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  log_worker_output(*logger_, who_, line);
}

}  // namespace baton
