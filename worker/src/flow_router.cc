#include "flow_router.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string_view>

#include "baton/flow_frame.h"

namespace baton {
namespace {

// Spreads new flows over the newest generation's workers by client address.
std::size_t address_hash(const sockaddr* from) {
  if (from->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(from);
    return std::hash<std::uint64_t>{}((std::uint64_t{in->sin_addr.s_addr} << 16) | in->sin_port);
  }
  if (from->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(from);
    return std::hash<std::string_view>{}(
               std::string_view(reinterpret_cast<const char*>(&in6->sin6_addr), sizeof in6->sin6_addr)) ^
           in6->sin6_port;
  }
  return 0;
}

constexpr std::size_t kMaxDatagram = 65535 + kMaxFlowFrameHeader;
constexpr int kReadsPerWake = 64;  // then let the loop serve the rest of the worker

}  // namespace

Status FlowRouter::apply(Envelope& m) {
  auto steer = m.as<Steer>();
  if (!steer) return steer.status();
  if (m.fds_lost || m.fds.size() != steer->fd_count())
    return Status::error("STEER named " + std::to_string(steer->fd_count()) + " fds but carried " +
                         std::to_string(m.fds.size()));
  std::size_t next_fd = 0;
  if (steer->own_tag != 0) {
    own_tag_ = steer->own_tag;
    inbox_ = std::move(m.fds[next_fd++]);
  }
  for (const SteerPeer& p : steer->added) peers_[p.tag] = Peer{std::move(m.fds[next_fd++]), p.generation, p.index};
  for (std::uint32_t tag : steer->removed) peers_.erase(tag);
  return Status::ok();
}

int FlowRouter::listener_index(std::string_view name) const {
  for (std::size_t i = 0; i < listeners_.size(); ++i)
    if (listeners_[i].spec.name == name) return static_cast<int>(i);
  return -1;
}

const FlowRouter::Peer* FlowRouter::newest_peer(const sockaddr* from) const {
  std::uint64_t newest = generation_;
  for (const auto& [tag, peer] : peers_) newest = std::max(newest, peer.generation);
  if (newest == generation_) return nullptr;
  std::vector<const Peer*> candidates;
  for (const auto& [tag, peer] : peers_)
    if (peer.generation == newest) candidates.push_back(&peer);
  return candidates[address_hash(from) % candidates.size()];
}

bool FlowRouter::steer(std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> datagram,
                       bool going) {
  if (own_tag_ == 0 || peers_.empty()) return false;
  const int index = listener_index(listener);
  if (index < 0) return false;
  // The listener's own name: a view of a NUL-terminated string (the C API passes .data() on).
  const std::uint32_t owner = steering_.classify(listeners_[index].spec.name, from, datagram);
  if (owner == own_tag_) return false;
  Peer* peer = nullptr;
  if (owner == 0 && going) {
    peer = const_cast<Peer*>(newest_peer(from));
  } else if (owner != 0) {
    auto it = peers_.find(owner);
    if (it != peers_.end()) peer = &it->second;
  }
  // A new flow before DRAIN, or an owner nobody knows (gone): serve it here.
  if (peer == nullptr) return false;
  return forward(*peer, static_cast<std::uint16_t>(index), from, datagram);
}

bool FlowRouter::forward(Peer& peer, std::uint16_t listener, const sockaddr* from,
                         std::span<const std::uint8_t> datagram) {
  std::uint8_t header[kMaxFlowFrameHeader];
  const std::size_t header_size = encode_flow_header(listener, from, header);
  if (header_size == 0) return false;
  iovec parts[2] = {{header, header_size}, {const_cast<std::uint8_t*>(datagram.data()), datagram.size()}};
  msghdr msg{};
  msg.msg_iov = parts;
  msg.msg_iovlen = 2;
  for (;;) {
    if (::sendmsg(peer.inbox.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) {
      ++stats_.forwarded;
      return true;
    }
    if (errno == EINTR) continue;
    // Full: the owner is behind, drop it as a congested network would.
    if (errno == EAGAIN) {
      ++stats_.dropped;
      return true;
    }
    return false;  // the owner is gone (ECONNREFUSED): serve it here, as an unknown flow
  }
}

void FlowRouter::start_reading() {
  if (!inbox_) return;
  if (!polling_) {
    if (!poll_.init(loop_, uv_poll_init, this, inbox_.get())) return;
    polling_ = true;
  }
  uv_ref(poll_.base());
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* p, int, int) {
    if (auto* self = static_cast<FlowRouter*>(p->data)) self->read_inbox();
  });
}

void FlowRouter::pause_reading() {
  if (polling_) uv_poll_stop(poll_.get());
}

void FlowRouter::release_loop() {
  if (polling_) uv_unref(poll_.base());
}

void FlowRouter::read_inbox() {
  buffer_.resize(kMaxDatagram);
  for (int i = 0; i < kReadsPerWake; ++i) {
    const ssize_t n = ::recv(inbox_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: all read
    auto frame = decode_flow_frame({buffer_.data(), static_cast<std::size_t>(n)});
    // Only steering workers hold our inbox; a frame we cannot read is dropped.
    if (!frame || frame->listener >= listeners_.size()) continue;
    ++stats_.delivered;
    steering_.deliver(listeners_[frame->listener].spec.name, reinterpret_cast<const sockaddr*>(&frame->from),
                      frame->payload);
  }
}

}  // namespace baton
