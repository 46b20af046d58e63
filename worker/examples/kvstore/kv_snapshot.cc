#include "kv_snapshot.h"

namespace kvstore {
namespace {

constexpr std::size_t kSliceBytes = 64 * 1024;  // then libbaton decides whether to go on this turn

}  // namespace

KvSnapshot::KvSnapshot(KvState& state, std::uint32_t version) : state_(state), version_(version) {
  state_.changed.start();
}

KvSnapshot::~KvSnapshot() { state_.changed.stop(); }

// Entries from just after the last key written: the store may have changed
// since, but an ordered map still knows where that was.
bool KvSnapshot::write_slice(std::ostream& out) {
  if (!archive_) archive_.emplace(out);
  const Store& store = state_.store;
  auto it = last_ ? store.upper_bound(*last_) : store.begin();
  for (std::size_t bytes = 0; it != store.end() && bytes < kSliceBytes; ++it) {
    (*archive_)(true, it->first, it->second);
    bytes += it->first.size() + it->second.size();
    last_ = it->first;
  }
  if (it != store.end()) return true;
  (*archive_)(false);
  return false;
}

void KvSnapshot::write_changes(std::ostream& out) {
  cereal::PortableBinaryOutputArchive archive(out);
  if (version_ >= 2) archive(state_.writes);
  const auto keys = state_.changed.take();
  archive(static_cast<std::uint64_t>(keys.size()));
  for (const std::string& key : keys) {
    auto it = state_.store.find(key);
    const bool present = it != state_.store.end();
    archive(key, present);
    if (present) archive(it->second);
  }
}

void load_snapshot(KvState& state, std::istream& in) {
  cereal::PortableBinaryInputArchive archive(in);
  state.store.clear();
  state.writes = 0;  // the changes carry the count (from version 2 on)
  for (bool more = true;;) {
    archive(more);
    if (!more) return;
    std::string key, value;
    archive(key, value);
    state.store.insert_or_assign(state.store.end(), std::move(key), std::move(value));
  }
}

void load_changes(KvState& state, std::istream& in, std::uint32_t version) {
  cereal::PortableBinaryInputArchive archive(in);
  if (version >= 2) archive(state.writes);
  std::uint64_t count = 0;
  archive(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string key;
    bool present = false;
    archive(key, present);
    if (!present) {
      state.store.erase(key);
      continue;
    }
    std::string value;
    archive(value);
    state.store.insert_or_assign(std::move(key), std::move(value));
  }
}

}  // namespace kvstore
