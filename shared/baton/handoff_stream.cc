#include "baton/handoff_stream.h"

#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <streambuf>

namespace baton {
namespace {

struct Xxh3 {
  Xxh3() : state(XXH3_createState()) { XXH3_64bits_reset(state.get()); }
  void update(const char* p, std::size_t n) { XXH3_64bits_update(state.get(), p, n); }
  std::uint64_t digest() const { return XXH3_64bits_digest(state.get()); }
  struct Free {
    void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
  };
  std::unique_ptr<XXH3_state_t, Free> state;
};

// An istream buffer fed by STATE_CHUNKs as they arrive; STATE_END is its EOF.
class ChunkReceiver final : public std::streambuf {
 public:
  ChunkReceiver(Channel& link, const StateReceiveOptions& options, Deadline deadline)
      : link_(link), options_(options), deadline_(deadline) {}

  bool ended() const { return ended_; }
  const StateEnd& end() const { return end_; }
  std::uint64_t total() const { return total_; }
  std::uint64_t digest() const { return hash_.digest(); }
  const Status& status() const { return status_; }
  // Pulls the next chunk into the get area; false at STATE_END or on error.
  bool fetch() {
    if (ended_ || !status_) return false;
    auto m = next_on_link(link_, deadline_, "STATE_CHUNK or STATE_END");
    if (!m) return fail(m.status());
    if (m->type == MessageType::kStateEnd) {
      auto e = m->as<StateEnd>();
      if (!e) return fail(e.status());
      end_ = *e;
      ended_ = true;
      return false;
    }
    if (m->type != MessageType::kStateChunk)
      return fail(Status::error("state stream: expected STATE_CHUNK or STATE_END, got " +
                                message_type_name(static_cast<std::uint16_t>(m->type))));
    auto payload = chunk_payload(m->body);
    if (!payload) return fail(payload.status().with_context("state stream"));
    if (payload->empty()) return fail(Status::error("state stream: empty STATE_CHUNK"));
    if (total_ + payload->size() > options_.max_bytes)
      return fail(Status::error("state stream exceeds the limit of " + std::to_string(options_.max_bytes) + " bytes"));
    // The chunk is read where it landed: the message body becomes the get area.
    const std::size_t offset = static_cast<std::size_t>(payload->data() - m->body.data());
    chunk_ = std::move(m->body);
    char* begin = reinterpret_cast<char*>(chunk_.data()) + offset;
    char* end = reinterpret_cast<char*>(chunk_.data() + chunk_.size());
    total_ += static_cast<std::uint64_t>(end - begin);
    hash_.update(begin, static_cast<std::size_t>(end - begin));
    setg(begin, begin, end);
    return true;
  }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    return fetch() ? traits_type::to_int_type(*gptr()) : traits_type::eof();
  }

 private:
  bool fail(Status st) {
    status_ = std::move(st);
    return false;
  }

  Channel& link_;
  const StateReceiveOptions& options_;
  Deadline deadline_;
  std::vector<std::uint8_t> chunk_;  // the current STATE_CHUNK's body
  Xxh3 hash_;
  std::uint64_t total_ = 0;
  bool ended_ = false;
  StateEnd end_;
  Status status_;
};

}  // namespace

// An ostream buffer that ships every full chunk as a STATE_CHUNK.
class StateWriter::Buffer final : public std::streambuf {
 public:
  Buffer(Channel& link, Deadline deadline, Sending sending)
      : link_(link), deadline_(deadline), sending_(sending), buf_(kMaxChunkBytes) {
    setp(buf_.data(), buf_.data() + buf_.size());
  }
  Status flush_chunk() {
    std::size_t n = static_cast<std::size_t>(pptr() - pbase());
    if (n == 0 || !status_) return status_;
    hash_.update(pbase(), n);
    total_ += n;
    // A STATE_CHUNK's prefix and bytes: gathered straight from our buffer to
    // the socket, or copied once into the queue.
    std::uint8_t prefix[kChunkPrefixSize];
    encode_chunk_prefix(n, prefix);
    const auto bytes = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(pbase()), n);
    if (sending_ == Sending::kQueued) {
      std::vector<std::uint8_t> body(prefix, prefix + kChunkPrefixSize);
      body.insert(body.end(), bytes.begin(), bytes.end());
      enqueue(MessageType::kStateChunk, std::move(body));
    } else {
      status_ = link_.send_parts(MessageType::kStateChunk, {std::span<const std::uint8_t>(prefix, kChunkPrefixSize), bytes},
                                 deadline_);
    }
    setp(buf_.data(), buf_.data() + buf_.size());
    return status_;
  }
  std::uint64_t written() const { return total_ + static_cast<std::uint64_t>(pptr() - pbase()); }
  const Status& status() const { return status_; }
  // The last chunk and STATE_END.
  Result<std::uint64_t> finish() {
    if (Status st = flush_chunk(); !st) return st.with_context("sending state");
    const StateEnd end{total_, hash_.digest()};
    if (sending_ == Sending::kQueued) enqueue(MessageType::kStateEnd, encode_body(end));
    else if (Status st = link_.send(end, {}, deadline_); !st) return st.with_context("STATE_END");
    return total_;
  }
  Status pump() {
    while (status_ && !queue_.empty()) {
      Status st = link_.send_raw(queue_.front().type, queue_.front().body, {}, Channel::kNoWait);
      if (!st && st.error_number() == EAGAIN) break;  // full: the next writable turn goes on
      if (!st) status_ = st.with_context("sending state");
      queued_bytes_ -= queue_.front().body.size();
      queue_.pop_front();
    }
    return status_;
  }
  std::uint64_t queued_bytes() const { return queued_bytes_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!flush_chunk()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }

 private:
  struct Queued {
    MessageType type;
    std::vector<std::uint8_t> body;
  };
  void enqueue(MessageType type, std::vector<std::uint8_t> body) {
    queued_bytes_ += body.size();
    queue_.push_back({type, std::move(body)});
  }

  Channel& link_;
  Deadline deadline_;
  Sending sending_;
  std::vector<char> buf_;
  Xxh3 hash_;
  std::uint64_t total_ = 0;
  Status status_;
  std::deque<Queued> queue_;
  std::uint64_t queued_bytes_ = 0;
};

Result<std::unique_ptr<StateWriter>> StateWriter::begin(Channel& link, std::uint32_t version, Deadline deadline,
                                                        Sending sending) {
  if (Status st = link.send(StateBegin{version}, {}, deadline); !st) return st.with_context("STATE_BEGIN");
  return std::unique_ptr<StateWriter>(new StateWriter(std::make_unique<Buffer>(link, deadline, sending)));
}

StateWriter::StateWriter(std::unique_ptr<Buffer> buffer)
    : buffer_(std::move(buffer)), out_(std::make_unique<std::ostream>(buffer_.get())) {}
StateWriter::~StateWriter() = default;
std::ostream& StateWriter::out() { return *out_; }
const Status& StateWriter::status() const { return buffer_->status(); }
std::uint64_t StateWriter::written() const { return buffer_->written(); }
Result<std::uint64_t> StateWriter::end() { return buffer_->finish(); }
Status StateWriter::pump() { return buffer_->pump(); }
std::uint64_t StateWriter::queued_bytes() const { return buffer_->queued_bytes(); }

Result<std::uint64_t> send_state(Channel& link, std::uint32_t version,
                                 const std::function<void(std::ostream&)>& write_state, Deadline deadline) {
  auto writer = StateWriter::begin(link, version, deadline);
  if (!writer) return writer.status();
  try {
    write_state((*writer)->out());
  } catch (const std::exception& e) {
    if (!(*writer)->status()) return (*writer)->status().with_context("sending state");
    return Status::error(std::string("saving state: ") + e.what());
  }
  return (*writer)->end();
}

Result<std::uint64_t> send_state_part(Channel& link, StatePart::Kind kind, std::uint32_t version,
                                      const std::function<void(std::ostream&)>& write_state, Deadline deadline) {
  if (Status st = link.send(StatePart{kind}, {}, deadline); !st) return st.with_context("STATE_PART");
  return send_state(link, version, write_state, deadline);
}

namespace {

// One STATE_BEGIN (already received as `first`) .. STATE_END stream.
Result<std::uint64_t> receive_stream(Channel& link, const StateReceiveOptions& options, const Envelope& first,
                                     const std::function<void(std::istream&, std::uint32_t)>& read_state,
                                     Deadline deadline) {
  auto begin = first.as<StateBegin>();
  if (!begin) return begin.status().with_context("state stream");
  if (std::find(options.accepted.begin(), options.accepted.end(), begin->version) == options.accepted.end())
    return Status::error("state version " + std::to_string(begin->version) + " is not one this worker loads " +
                         versions_text(options.accepted));
  ChunkReceiver buf(link, options, deadline);
  std::istream in(&buf);
  try {
    read_state(in, begin->version);
  } catch (const std::exception& e) {
    if (!buf.status()) return buf.status();
    return Status::error(std::string("loading state version ") + std::to_string(begin->version) + ": " + e.what());
  }
  if (!buf.status()) return buf.status();
  // The application must have read it all: what is left is a schema mismatch.
  std::uint64_t unread = static_cast<std::uint64_t>(buf.in_avail() > 0 ? buf.in_avail() : 0);
  while (buf.fetch()) unread += static_cast<std::uint64_t>(buf.in_avail());
  if (!buf.status()) return buf.status();
  if (unread > 0)
    return Status::error("loading state version " + std::to_string(begin->version) + " left " +
                         std::to_string(unread) + " bytes unread (schema mismatch?)");
  if (buf.end().total_length != buf.total())
    return Status::error("state stream: STATE_END says " + std::to_string(buf.end().total_length) +
                         " bytes, received " + std::to_string(buf.total()));
  if (buf.end().checksum != buf.digest()) return Status::error("state stream: checksum mismatch (corrupted in transit)");
  return buf.total();
}

const char* part_name(std::uint8_t kind) {
  switch (kind) {
    case StatePart::kSnapshot: return "the snapshot";
    case StatePart::kChanges: return "a round of changes";
    case StatePart::kFinalChanges: return "the final changes";
    default: return "an unknown part";
  }
}

// Checks one STATE_PART against the order snapshot, changes*, final.
Result<StatePart::Kind> part_kind(const Envelope& m, bool first) {
  if (m.type != MessageType::kStatePart)
    return Status::error("state stream: expected STATE_PART after " + std::string(first ? "nothing" : "a part") +
                         ", got " + message_type_name(static_cast<std::uint16_t>(m.type)));
  auto part = m.as<StatePart>();
  if (!part) return part.status().with_context("state stream");
  if (part->kind > StatePart::kFinalChanges)
    return Status::error("state stream: STATE_PART of unknown kind " + std::to_string(part->kind));
  if (first != (part->kind == StatePart::kSnapshot))
    return Status::error(std::string("state stream: ") + part_name(part->kind) +
                         (first ? " before the snapshot" : " after the snapshot; it comes once, first"));
  return static_cast<StatePart::Kind>(part->kind);
}

// The next message that is not CONNECTIONS_AHEAD, taking those before it.
Result<Envelope> next_past_ahead(Channel& link, const StateLoaders& loaders, Deadline deadline,
                                 const char* waiting_for) {
  for (;;) {
    auto m = next_on_link(link, deadline, waiting_for);
    if (!m || m->type != MessageType::kConnectionsAhead) return m;
    if (!loaders.ahead) return Status::error("CONNECTIONS_AHEAD, but this worker did not ask for connections ahead");
    if (Status st = loaders.ahead->take(*m, kMaxHandedConnections); !st) return st;
  }
}

// The pre-copy form, from its first STATE_PART to the final changes.
Result<ReceivedState> receive_parts(Channel& link, const StateReceiveOptions& options, const StateLoaders& loaders,
                                    Envelope part, Deadline deadline) {
  if (!loaders.snapshot || !loaders.changes)
    return Status::error("the old worker pre-copies its state, but this worker does not load pre-copied state");
  ReceivedState got{0, 0, 0};
  std::optional<std::uint32_t> version;
  for (;;) {
    auto kind = part_kind(part, got.parts == 0);
    if (!kind) return kind.status();
    auto load = [&, kind = *kind](std::istream& in, std::uint32_t v) {
      if (version && *version != v)
        throw std::runtime_error("a part of version " + std::to_string(v) + " after version " +
                                 std::to_string(*version));
      version = v;
      (kind == StatePart::kSnapshot ? loaders.snapshot : loaders.changes)(in, v);
    };
    auto begin = next_on_link(link, deadline, "STATE_BEGIN");
    if (!begin) return begin.status();
    StateReceiveOptions left = options;
    left.max_bytes = options.max_bytes - got.bytes;
    auto bytes = receive_stream(link, left, *begin, load, deadline);
    if (!bytes) return bytes.status().with_context(std::string("receiving ") + part_name(*kind));
    got.bytes += *bytes;
    ++got.parts;
    if (*kind == StatePart::kFinalChanges) return got;
    got.precopy_bytes += *bytes;
    auto following = next_past_ahead(link, loaders, deadline, "STATE_PART");
    if (!following) return following.status();
    part = std::move(*following);
  }
}

}  // namespace

Result<std::uint64_t> receive_state(Channel& link, const StateReceiveOptions& options,
                                    const std::function<void(std::istream&, std::uint32_t)>& read_state,
                                    Deadline deadline) {
  auto first = next_on_link(link, deadline, "STATE_BEGIN");
  if (!first) return first.status();
  return receive_stream(link, options, *first, read_state, deadline);
}

Result<ReceivedState> receive_state_parts(Channel& link, const StateReceiveOptions& options,
                                          const StateLoaders& loaders, Deadline deadline) {
  auto first = next_past_ahead(link, loaders, deadline, "STATE_BEGIN or STATE_PART");
  if (!first) return first.status();
  if (first->type == MessageType::kStatePart) return receive_parts(link, options, loaders, std::move(*first), deadline);
  auto bytes = receive_stream(link, options, *first, loaders.state, deadline);
  if (!bytes) return bytes.status();
  return ReceivedState{*bytes, 0, 1};
}

}  // namespace baton
