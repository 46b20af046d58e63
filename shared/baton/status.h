// Errors are values: Status says what failed, with the errno and the context
// a person needs to fix it ("bind tcp://0.0.0.0:80: Permission denied; run as
// root or use a port above 1024"). Result<T> is a T or a Status.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace baton {

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status ok() { return Status(); }
  // A failure described by `message` alone.
  static Status error(std::string message) { return Status(0, std::move(message), true); }
  // A failed system call: "<context>: <strerror(err)>".
  static Status from_errno(int err, const std::string& context);

  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return is_ok(); }
  int error_number() const { return errno_; }  // 0 when not from a syscall
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<prefix>: <message>".
  Status with_context(const std::string& prefix) const;
  // Returns a copy with "; <hint>" appended: the fix the user should try.
  Status with_hint(const std::string& hint) const;

 private:
  Status(int err, std::string message, bool failed)
      : errno_(err), message_(std::move(message)), failed_(failed) {}

  int errno_ = 0;
  std::string message_;
  bool failed_ = false;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).is_ok() && "Result built from an OK status");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& value() const& { return std::get<T>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  // The failure; OK status when the Result holds a value.
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace baton
