// What kvstore hands to its successor in handoff mode, and its schema history.
//
//   version 1: the key-value map
//   version 2: + writes (PUT/DELETE count since the store began)
//
// Pre-copied (kv_snapshot.h), the same content goes in parts: the snapshot
// as (true, key, value)* false, and each round of changes as
// [writes, version >= 2] count (key, present, [value])*.
//
// cereal records the class version in the stream, so a version-2 build loads
// a version-1 stream with writes = 0. A build's own version is
// KVSTORE_STATE_VERSION (CMake builds kvstore at 2 and kvstore_v1 at 1, to
// test upgrades and downgrades between real binaries); main.cc, the only
// translation unit that serializes KvState, registers it with
// CEREAL_CLASS_VERSION, so the two builds cannot mix it up.
#pragma once

#include <cereal/cereal.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/map.hpp>

#include <cstdint>

#include "baton/changed_keys.h"
#include "routes.h"

namespace kvstore {

struct KvState {
  Store store;
  std::uint64_t writes = 0;
  // Keys written or deleted while a pre-copy runs (not part of the state).
  baton::ChangedKeys<std::string> changed;

  template <class Archive> void save(Archive& ar, std::uint32_t const version) const {
    ar(store);
    if (version >= 2) ar(writes);
  }
  template <class Archive> void load(Archive& ar, std::uint32_t const version) {
    ar(store);
    writes = 0;  // a version-1 stream has none: start counting here
    if (version >= 2) ar(writes);
  }
};

}  // namespace kvstore
