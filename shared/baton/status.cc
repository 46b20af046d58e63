#include "baton/status.h"

#include <cstring>

namespace baton {

Status Status::from_errno(int err, const std::string& context) {
  return Status(err, context + ": " + std::strerror(err), true);
}

Status Status::with_context(const std::string& prefix) const {
  if (is_ok()) return *this;
  return Status(errno_, prefix + ": " + message_, true);
}

Status Status::with_hint(const std::string& hint) const {
  if (is_ok()) return *this;
  return Status(errno_, message_ + "; " + hint, true);
}

}  // namespace baton
