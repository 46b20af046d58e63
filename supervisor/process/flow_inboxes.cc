#include "flow_inboxes.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <set>

namespace baton {

Result<std::shared_ptr<FlowInboxes::Inbox>> FlowInboxes::open_inbox(std::uint64_t generation, std::uint32_t index) {
  int ends[2];
  // Non-blocking in every process that holds an end (the flag is the open
  // file's): a full inbox drops a datagram, as the network would, and never
  // stalls the worker that forwards it.
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends) != 0)
    return Status::from_errno(errno, "socketpair for a UDP flow inbox");
  auto inbox = std::make_shared<Inbox>();
  inbox->read = UniqueFd(ends[0]);
  inbox->write = UniqueFd(ends[1]);
  ::shutdown(ends[0], SHUT_WR);  // one way: peers write, the owner reads
  inbox->tag = next_tag_++;
  if (next_tag_ == 0) next_tag_ = 1;  // tags are nonzero
  inbox->generation = generation;
  inbox->index = index;
  return inbox;
}

Status FlowInboxes::join(SteerTarget& worker, std::uint64_t generation, std::uint32_t index, bool takes_handoff) {
  std::shared_ptr<Inbox> inbox;
  if (takes_handoff) {
    auto same_slot = std::find_if(members_.rbegin(), members_.rend(),
                                  [&](const Member& m) { return m.inbox->index == index; });
    if (same_slot != members_.rend()) inbox = same_slot->inbox;
  }
  const bool shared = inbox != nullptr;
  if (!shared) {
    auto opened = open_inbox(generation, index);
    if (!opened) return opened.status();
    inbox = std::move(opened.value());
  }
  inbox->generation = generation;
  members_.push_back({&worker, inbox});
  introduce(worker, *inbox);
  if (!shared) announce(*inbox, worker);
  return Status::ok();
}

void FlowInboxes::introduce(SteerTarget& worker, const Inbox& own) {
  Steer message{own.tag, {}, {}};
  std::vector<int> fds{own.read.get()};
  std::set<std::uint32_t> told{own.tag};
  auto flush = [&] {
    worker.send_steer(message, fds);
    message = Steer{};
    fds.clear();
  };
  for (const auto& m : members_) {
    if (!told.insert(m.inbox->tag).second) continue;
    message.added.push_back({m.inbox->tag, m.inbox->generation, m.inbox->index});
    fds.push_back(m.inbox->write.get());
    if (message.added.size() == kMaxSteerPeers) flush();
  }
  if (message.own_tag != 0 || !message.added.empty()) flush();
}

void FlowInboxes::announce(const Inbox& added, const SteerTarget& except) {
  const Steer message{0, {{added.tag, added.generation, added.index}}, {}};
  const int fd = added.write.get();
  for (const auto& m : members_)
    if (m.worker != &except && m.inbox->tag != added.tag) m.worker->send_steer(message, {&fd, 1});
}

void FlowInboxes::leave(SteerTarget& worker) {
  auto it = std::find_if(members_.begin(), members_.end(), [&](const Member& m) { return m.worker == &worker; });
  if (it == members_.end()) return;
  const std::shared_ptr<Inbox> inbox = it->inbox;
  members_.erase(it);
  if (inbox.use_count() > 1) return;  // a successor reads it now
  const Steer message{0, {}, {inbox->tag}};
  for (const auto& m : members_) m.worker->send_steer(message, {});
}

std::size_t FlowInboxes::inboxes() const {
  std::set<std::uint32_t> tags;
  for (const auto& m : members_) tags.insert(m.inbox->tag);
  return tags.size();
}

}  // namespace baton
