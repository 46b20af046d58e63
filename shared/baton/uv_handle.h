// Ownership of libuv handles.
//
// libuv keeps using a handle's memory until its close callback has run, so a
// handle cannot be a plain member that dies with its owner. UvHandle<T> puts
// the handle on the heap; its destructor calls uv_close() and the close
// callback frees the memory. Before closing it clears handle->data, so a
// callback can never reach an owner that is gone.
//
// Belongs to one loop and one thread.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <utility>

#include "baton/status.h"

namespace baton {

template <typename T>
class UvHandle {
 public:
  UvHandle() : h_(new T{}) {}
  ~UvHandle() { close(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  T* get() const { return h_; }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(h_); }

  // Initializes the handle: `init_fn(loop, handle, args...)` (uv_timer_init,
  // uv_poll_init, ...), then points its data at `owner`. On failure libuv
  // registered nothing, so nothing needs closing.
  template <class Init, class... Args>
  Status init(uv_loop_t* loop, Init init_fn, void* owner, Args... args) {
    if (int rc = init_fn(loop, h_, args...); rc != 0) return Status::from_errno(-rc, "libuv handle init");
    initialized_ = true;
    base()->data = owner;
    return Status::ok();
  }

  void close() {
    if (h_ == nullptr) return;
    if (initialized_) {
      base()->data = nullptr;
      if (!uv_is_closing(base()))
        uv_close(base(), [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
    } else {
      delete h_;
    }
    h_ = nullptr;
  }

 private:
  T* h_;
  bool initialized_ = false;
};

// A one-shot timer that runs a std::function. Not movable (libuv points at it).
class Timer {
 public:
  explicit Timer(uv_loop_t* loop) {
    (void)handle_.init(loop, uv_timer_init, this);  // uv_timer_init cannot fail
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arms the timer; a previous callback that has not fired is dropped.
  void start(std::chrono::milliseconds after, std::function<void()> cb) {
    cb_ = std::move(cb);
    uv_timer_start(handle_.get(), &Timer::fire, static_cast<uint64_t>(after.count()), 0);
  }
  void stop() {
    uv_timer_stop(handle_.get());
    cb_ = nullptr;
  }
  bool active() const { return uv_is_active(handle_.base()) != 0; }
  // A timer that must not keep uv_run() going by itself (a log summary, a
  // retry): the loop ends when only such timers are left.
  void let_loop_end() { uv_unref(handle_.base()); }
  // Until it fires (0 when not armed).
  std::chrono::milliseconds due_in() const {
    return active() ? std::chrono::milliseconds(uv_timer_get_due_in(handle_.get())) : std::chrono::milliseconds(0);
  }

 private:
  static void fire(uv_timer_t* t) {
    auto* self = static_cast<Timer*>(t->data);
    if (self == nullptr || !self->cb_) return;
    // The callback may re-arm or destroy this timer: move it out first.
    auto cb = std::move(self->cb_);
    self->cb_ = nullptr;
    cb();
  }

  UvHandle<uv_timer_t> handle_;
  std::function<void()> cb_;
};

}  // namespace baton
