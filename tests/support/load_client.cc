#include "support/load_client.h"

#include "support/http_client.h"

namespace testing_support {

LoadClient::LoadClient(Options options)
    : options_(std::move(options)), deadline_(std::chrono::steady_clock::now() + options_.max_duration) {
  for (int i = 0; i < options_.keepalive_connections; ++i) threads_.emplace_back([this, i] { run_keepalive(i); });
  for (int i = 0; i < options_.close_connections; ++i) threads_.emplace_back([this] { run_close(); });
}

bool LoadClient::should_stop() const { return stop_.load() || std::chrono::steady_clock::now() > deadline_; }

void LoadClient::record_failure(const std::string& what) {
  ++failed_;
  std::lock_guard<std::mutex> lock(mu_);
  if (errors_.size() < 20) errors_.push_back(what);
}

void LoadClient::run_keepalive(int thread) {
  baton::UniqueFd conn;
  std::vector<std::pair<std::string, std::string>> acked;
  std::vector<std::pair<std::string, std::string>> on_this_connection;
  bool first = true;
  for (std::uint64_t n = 0; !should_stop(); ++n) {
    if (!conn) {
      auto fd = connect_local(options_.port);
      if (!fd) {
        record_failure("keep-alive connect: " + fd.status().message());
        continue;
      }
      conn = std::move(fd.value());
      on_this_connection.clear();
      if (!first) ++reconnects_;
      first = false;
    }
    std::string key = "c" + std::to_string(thread) + "-" + std::to_string(n);
    std::string value = "v" + std::to_string(n);
    auto r = options_.writes ? exchange(conn.get(), "PUT", "/kv/" + key, value) : exchange(conn.get(), "GET", options_.path);
    if (!r) {
      record_failure("keep-alive request: " + r.status().message());
      conn.reset();
      continue;
    }
    if (r->status != 200) {
      record_failure("keep-alive request: status " + std::to_string(r->status));
    } else {
      ++ok_;
      if (options_.writes) {
        if (options_.read_back) on_this_connection.emplace_back(key, value);
        acked.emplace_back(std::move(key), std::move(value));
      }
    }
    if (r->connection_close) conn.reset();  // the server ends it politely: reconnect
  }
  if (conn && options_.read_back) read_back(conn.get(), on_this_connection);
  std::lock_guard<std::mutex> lock(mu_);
  acknowledged_.insert(acknowledged_.end(), acked.begin(), acked.end());
}

void LoadClient::read_back(int conn, const std::vector<std::pair<std::string, std::string>>& written) {
  for (const auto& [key, value] : written) {
    auto r = exchange(conn, "GET", "/kv/" + key);
    if (!r) return record_failure("read-back: " + r.status().message());
    ++read_back_;
    if (r->status != 200 || r->body != value) ++lost_;
  }
}

void LoadClient::run_close() {
  while (!should_stop()) {
    auto r = http_request(options_.port, "GET", options_.path);
    if (!r) record_failure("new-connection request: " + r.status().message());
    else if (r->status != 200) record_failure("new-connection request: status " + std::to_string(r->status));
    else ++ok_;
    if (options_.close_pause.count() > 0) std::this_thread::sleep_for(options_.close_pause);  // pacing, not waiting
  }
}

LoadStats LoadClient::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  return {ok_.load(), failed_.load(), errors_, acknowledged_, reconnects_.load(), read_back_.load(), lost_.load()};
}

}  // namespace testing_support
