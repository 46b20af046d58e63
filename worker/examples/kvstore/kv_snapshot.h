// kvstore's pre-copy (worker/README.md, "Pre-copy"). The old worker writes
// its store key by key in key order while it serves; every key written or
// deleted meanwhile is in KvState::changed and goes again in a round of
// changes, so snapshot + rounds, applied in order, is the store at the pause.
// The formats are in kv_state.h.
#pragma once

#include <cereal/archives/portable_binary.hpp>

#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include "baton/worker.h"
#include "kv_state.h"

namespace kvstore {

class KvSnapshot final : public baton::StateSnapshot {
 public:
  // `version`: the schema this build writes (KVSTORE_STATE_VERSION).
  KvSnapshot(KvState& state, std::uint32_t version);
  ~KvSnapshot() override;

  bool write_slice(std::ostream& out) override;
  std::size_t changed() const override { return state_.changed.size(); }
  void write_changes(std::ostream& out) override;

 private:
  KvState& state_;
  std::uint32_t version_;
  // One archive over the whole snapshot stream (it is the same stream on every call).
  std::optional<cereal::PortableBinaryOutputArchive> archive_;
  std::optional<std::string> last_;  // the last key written
};

// New side: the snapshot replaces the store; each round of changes applies over it.
void load_snapshot(KvState& state, std::istream& in);
void load_changes(KvState& state, std::istream& in, std::uint32_t version);

}  // namespace kvstore
