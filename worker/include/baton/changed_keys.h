// ChangedKeys: the bookkeeping a keyed store needs for pre-copy. The store
// calls touch(key) on every write and delete; while a StateSnapshot lives it
// records them, and write_changes() takes them.
//
//   store_[key] = value;  changed_.touch(key);
//   ...
//   for (const auto& key : changed_.take()) write key and store_.find(key) (or "deleted")
#pragma once

#include <cstddef>
#include <functional>
#include <unordered_set>
#include <utility>

namespace baton {

template <class Key, class Hash = std::hash<Key>>
class ChangedKeys {
 public:
  using Set = std::unordered_set<Key, Hash>;

  void start() {
    keys_.clear();
    recording_ = true;
  }
  void stop() {
    recording_ = false;
    Set().swap(keys_);  // give the memory back, not only the entries
  }
  bool recording() const { return recording_; }
  // Anything a Key is constructed from (a std::string_view for a std::string
  // key): nothing is built unless a pre-copy runs.
  template <class K>
  void touch(K&& key) {
    if (recording_) keys_.emplace(std::forward<K>(key));
  }
  std::size_t size() const { return keys_.size(); }
  // The keys recorded so far; recording goes on into an empty set.
  Set take() { return std::exchange(keys_, Set()); }

 private:
  Set keys_;
  bool recording_ = false;
};

}  // namespace baton
