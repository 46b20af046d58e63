#include "executable_watch.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "duration.h"
#include "executable_complete.h"

namespace baton {

bool ExecutableWatch::Identity::operator==(const Identity& o) const {
  return device == o.device && inode == o.inode && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
         mtime.tv_nsec == o.mtime.tv_nsec;
}

ExecutableWatch::ExecutableWatch(uv_loop_t* loop, std::string path, std::chrono::milliseconds settle,
                                 UpgradeFn upgrade)
    : loop_(loop), path_(std::move(path)), settle_(settle), upgrade_(std::move(upgrade)), settle_timer_(loop) {
  const auto slash = path_.rfind('/');
  dir_ = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  name_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
}

Status ExecutableWatch::start(const std::optional<HandoverWatch>& adopted) {
  if (Status st = event_.init(loop_, uv_fs_event_init, this); !st) return st;
  if (int rc = uv_fs_event_start(event_.get(), &ExecutableWatch::on_event, dir_.c_str(), 0); rc != 0)
    return Status::from_errno(-rc, "--watch: watch " + dir_);
  upgraded_to_ = identify();
  spdlog::info("watching {}: a new file there upgrades, once it has not changed for {}", path_,
               format_duration(settle_));
  if (!adopted) return Status::ok();
  upgraded_to_ = std::nullopt;
  if (adopted->upgraded_to_known)
    upgraded_to_ = Identity{static_cast<dev_t>(adopted->device), static_cast<ino_t>(adopted->inode), adopted->size,
                            {adopted->mtime_ns / 1'000'000'000, adopted->mtime_ns % 1'000'000'000}};
  if (adopted->pending || identify() != upgraded_to_) {
    spdlog::info("watch: {} changed before this baton took over; upgrading once it settles", path_);
    changed();
  }
  return Status::ok();
}

HandoverWatch ExecutableWatch::handover() const {
  HandoverWatch w{.pending = settle_timer_.active()};
  if (upgraded_to_) {
    w.upgraded_to_known = true;
    w.device = upgraded_to_->device;
    w.inode = upgraded_to_->inode;
    w.size = upgraded_to_->size;
    w.mtime_ns = upgraded_to_->mtime.tv_sec * 1'000'000'000LL + upgraded_to_->mtime.tv_nsec;
  }
  return w;
}

void ExecutableWatch::upgrade_started(const UpgradeRecord&) { upgraded_to_ = identify(); }

void ExecutableWatch::stopping() {
  settle_timer_.stop();
  event_.close();
}

void ExecutableWatch::on_event(uv_fs_event_t* handle, const char* filename, int, int status) {
  auto* self = static_cast<ExecutableWatch*>(handle->data);
  if (self == nullptr) return;
  // No name: the kernel's queue overflowed, so anything may have changed.
  if (status < 0 || filename == nullptr || self->name_ == filename) self->changed();
}

std::optional<ExecutableWatch::Identity> ExecutableWatch::identify() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return std::nullopt;
  return Identity{st.st_dev, st.st_ino, st.st_size, st.st_mtim};
}

void ExecutableWatch::changed() {
  // Each event restarts the wait: a copy in progress keeps it from ending.
  settle_timer_.start(settle_, [this] { settled(); });
}

void ExecutableWatch::settled() {
  const auto now = identify();
  if (!now || now == upgraded_to_) return;  // gone (a rename comes next), or what already runs
  Status whole = ::access(path_.c_str(), X_OK) == 0 ? executable_complete(path_)
                                                     : Status::from_errno(errno, "not executable");
  if (!whole) {
    // A writer that paused: its next write brings another event.
    if (last_refused_ != now) spdlog::info("watch: {} changed but is not ready to run: {}; waiting", path_,
                                           whole.message());
    last_refused_ = now;
    return;
  }
  upgrade_("watch: " + name_ + " replaced");
}

}  // namespace baton
