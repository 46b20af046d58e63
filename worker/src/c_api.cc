// The C ABI of libbaton (baton/baton.h): thin adapters over baton::Worker.
// C callbacks cannot throw, so a refusal comes back as a nonzero return and
// becomes the exception that worker.h's std::ostream/istream callbacks use.
#include "baton/baton.h"

#include <istream>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "baton/worker.h"

struct baton_worker {
  std::unique_ptr<baton::Worker> worker;
  std::string error;
};
struct baton_writer {
  std::ostream* out;
};
struct baton_reader {
  std::istream* in;
};
struct baton_connections {
  std::vector<baton::ExportedConnection>* list;
};

namespace {

thread_local std::string create_error;

int failed(baton_worker* w, const baton::Status& st) {
  w->error = st.message();
  return -1;
}

std::string bytes(const void* data, std::size_t length) {
  return length == 0 ? std::string() : std::string(static_cast<const char*>(data), length);
}

baton::HandoffSource source_of(const baton_handoff_source& c) {
  baton::HandoffSource s;
  s.state_version = c.state_version;
  s.quiesce = [c](std::function<void()> quiesced) {
    // The token carries the C++ continuation through C; it frees itself when called.
    auto* token = new std::function<void()>(std::move(quiesced));
    c.quiesce(c.data, [](void* t) {
      std::unique_ptr<std::function<void()>> done(static_cast<std::function<void()>*>(t));
      (*done)();
    }, token);
  };
  s.save_state = [c](std::ostream& out) {
    baton_writer writer{&out};
    if (int rc = c.save_state(c.data, &writer); rc != 0)
      throw std::runtime_error("save_state refused (returned " + std::to_string(rc) + ")");
  };
  s.export_connections = [c] {
    std::vector<baton::ExportedConnection> list;
    baton_connections out{&list};
    if (c.export_connections) c.export_connections(c.data, &out);
    return list;
  };
  s.resume = [c] { if (c.resume) c.resume(c.data); };
  s.committed = [c] { if (c.committed) c.committed(c.data); };
  if (c.park) s.park = [c] { c.park(c.data); };
  return s;
}

baton::HandoffTarget target_of(const baton_handoff_target& c) {
  baton::HandoffTarget t;
  t.state_versions.assign(c.state_versions, c.state_versions + c.state_version_count);
  t.load_state = [c](std::istream& in, std::uint32_t version) {
    baton_reader reader{&in};
    if (int rc = c.load_state(c.data, &reader, version); rc != 0)
      throw std::runtime_error("load_state refused version " + std::to_string(version) + " (returned " +
                               std::to_string(rc) + ")");
  };
  t.adopt_connections = [c](std::vector<baton::HandedConnection> handed) {
    std::vector<baton_handed_connection> view;
    for (auto& h : handed)
      view.push_back({h.fd.release(), h.pending.data(), h.pending.size(), h.app.data(), h.app.size(),
                      h.unsent.data(), h.unsent.size()});
    if (c.adopt_connections) c.adopt_connections(c.data, view.data(), view.size());
  };
  t.commit = [c] { if (c.commit) c.commit(c.data); };
  return t;
}

}  // namespace

extern "C" {

baton_worker* baton_create(uv_loop_t* loop, const baton_options* options) {
  baton::Worker::Options o;
  if (options->name) o.name = options->name;
  for (auto* l = options->standalone_listen; l && *l; ++l) o.standalone_listen.emplace_back(*l);
  if (options->handshake_timeout_ms) o.handshake_timeout = std::chrono::milliseconds(options->handshake_timeout_ms);
  auto worker = baton::Worker::create(loop, std::move(o));
  if (!worker) {
    create_error = worker.status().message();
    return nullptr;
  }
  return new baton_worker{std::move(worker.value()), {}};
}

const char* baton_create_error(void) { return create_error.c_str(); }
void baton_destroy(baton_worker* w) { delete w; }
const char* baton_error(const baton_worker* w) { return w->error.c_str(); }
int baton_supervised(const baton_worker* w) { return w->worker->supervised() ? 1 : 0; }
uint64_t baton_generation(const baton_worker* w) { return w->worker->generation(); }
uint32_t baton_index(const baton_worker* w) { return w->worker->index(); }

int baton_take_listener(baton_worker* w, const char* name) {
  auto fd = w->worker->take_listener(name);
  return fd ? fd->release() : failed(w, fd.status());
}

void baton_on_drain(baton_worker* w, baton_drain_fn fn, void* data) {
  w->worker->on_drain([fn, data](const baton::DrainRequest& d) {
    fn(data, d.reason == baton::DrainRequest::Reason::kDrain ? BATON_DRAIN_REQUESTED : BATON_DRAIN_SUPERVISOR_GONE,
       static_cast<uint64_t>(d.deadline.count()));
  });
}

int baton_ready(baton_worker* w) {
  baton::Status st = w->worker->ready();
  return st ? 0 : failed(w, st);
}

int baton_report_error(baton_worker* w, const char* message) {
  baton::Status st = w->worker->report_error(message);
  return st ? 0 : failed(w, st);
}

int baton_report_unhealthy(baton_worker* w, const char* reason) {
  baton::Status st = w->worker->report_unhealthy(reason);
  return st ? 0 : failed(w, st);
}

void baton_report_connections(baton_worker* w, size_t count) { w->worker->report_connections(count); }
void baton_finish(baton_worker* w) { w->worker->finish(); }
int baton_awaiting_handoff(const baton_worker* w) { return w->worker->awaiting_handoff() ? 1 : 0; }

void baton_on_flows(baton_worker* w, const baton_flow_steering* s) {
  const baton_flow_steering copy = *s;
  auto bytes = [](std::span<const std::uint8_t> d) { return std::pair{static_cast<const void*>(d.data()), d.size()}; };
  w->worker->on_flows({
      .classify = [copy, bytes](std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> d) {
        auto [data, length] = bytes(d);
        return copy.classify(copy.data, listener.data(), from, data, length);  // NUL-terminated (flow_router.cc)
      },
      .deliver = [copy, bytes](std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> d) {
        auto [data, length] = bytes(d);
        copy.deliver(copy.data, listener.data(), from, data, length);
      },
  });
}
uint32_t baton_flow_tag(const baton_worker* w) { return w->worker->flow_tag(); }
int baton_steer(baton_worker* w, const char* listener, const sockaddr* from, const void* datagram, size_t length) {
  return w->worker->steer(listener, from, {static_cast<const std::uint8_t*>(datagram), length}) ? 1 : 0;
}

int baton_write(baton_writer* out, const void* data, size_t length) {
  out->out->write(static_cast<const char*>(data), static_cast<std::streamsize>(length));
  return out->out->good() ? 0 : -1;
}

size_t baton_read(baton_reader* in, void* buffer, size_t length) {
  in->in->read(static_cast<char*>(buffer), static_cast<std::streamsize>(length));
  return static_cast<size_t>(in->in->gcount());
}

int baton_export_connection(baton_connections* list, int fd, const void* pending, size_t pending_length,
                            const void* app, size_t app_length, const void* unsent, size_t unsent_length) {
  list->list->push_back({fd, bytes(pending, pending_length), bytes(app, app_length), bytes(unsent, unsent_length)});
  return 0;
}

void baton_on_handoff(baton_worker* w, const baton_handoff_source* source) {
  w->worker->on_handoff(source_of(*source));
}

void baton_on_restore(baton_worker* w, const baton_handoff_target* target) {
  w->worker->on_restore(target_of(*target));
}

}  // extern "C"
