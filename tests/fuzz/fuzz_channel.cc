// libFuzzer: one datagram from a hostile worker, through a real socketpair
// into Channel::receive() and the message decoders. Must never crash, hang,
// leak or allocate without bound; errors are fine.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "baton/channel.h"

namespace {

template <class M> void decode(const baton::Envelope& e) { (void)e.as<M>(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto pair = baton::Channel::make_pair();
  if (!pair) return 0;
  if (size > 0 && ::send(pair->first.fd(), data, size, MSG_DONTWAIT) < 0) return 0;
  auto r = pair->second.receive();
  if (!r || r->outcome != baton::Channel::Outcome::kMessage) return 0;
  const baton::Envelope& e = r->message;
  using namespace baton;
  switch (e.type) {
    case MessageType::kHello: decode<Hello>(e); break;
    case MessageType::kWelcome: decode<Welcome>(e); break;
    case MessageType::kReady: decode<Ready>(e); break;
    case MessageType::kDrain: decode<Drain>(e); break;
    case MessageType::kError: decode<Error>(e); break;
    case MessageType::kStandby: decode<Standby>(e); break;
    case MessageType::kHandoff: decode<Handoff>(e); break;
    case MessageType::kSent: decode<Sent>(e); break;
    case MessageType::kRestored: decode<Restored>(e); break;
    case MessageType::kCommit: decode<Commit>(e); break;
    case MessageType::kResume: decode<Resume>(e); break;
    case MessageType::kPark: decode<Park>(e); break;
    case MessageType::kParked: decode<Parked>(e); break;
    case MessageType::kFeatures: decode<Features>(e); break;
    case MessageType::kPrecopied: decode<Precopied>(e); break;
    case MessageType::kStateBegin: decode<StateBegin>(e); break;
    case MessageType::kStateChunk: (void)chunk_payload(e.body); decode<StateChunk>(e); break;
    case MessageType::kStateEnd: decode<StateEnd>(e); break;
    case MessageType::kConnections: decode<Connections>(e); break;
    case MessageType::kHandoffEnd: decode<HandoffEnd>(e); break;
    case MessageType::kConnectionData: decode<ConnectionData>(e); break;
    case MessageType::kStatePart: decode<StatePart>(e); break;
    case MessageType::kConnectionsAhead: decode<ConnectionsAhead>(e); break;
    case MessageType::kConnectionsById: decode<ConnectionsById>(e); break;
    case MessageType::kPing: decode<Ping>(e); break;
    case MessageType::kPong: decode<Pong>(e); break;
    case MessageType::kUnhealthy: decode<Unhealthy>(e); break;
    case MessageType::kInherit: decode<Inherit>(e); break;
    case MessageType::kClients: decode<Clients>(e); break;
    case MessageType::kSteer: decode<Steer>(e); break;
    case MessageType::kFds: break;
  }
  return 0;
}
