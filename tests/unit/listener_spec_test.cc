#include "baton/listener_spec.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

TEST(ListenerSpec, ParsesEveryForm) {
  auto tcp = parse_listener_spec("http=tcp://127.0.0.1:8080");
  ASSERT_TRUE(tcp) << tcp.status().message();
  EXPECT_EQ(tcp->name, "http");
  EXPECT_EQ(tcp->kind, ListenerKind::kTcp);
  EXPECT_EQ(tcp->host, "127.0.0.1");
  EXPECT_EQ(tcp->port, 8080);

  auto v6 = parse_listener_spec("tcp://[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->name, "default");
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->url(), "tcp://[::1]:0");

  auto udp = parse_listener_spec("dns=udp://0.0.0.0:53");
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->kind, ListenerKind::kUdp);

  auto unix_ = parse_listener_spec("admin=unix:///run/app.sock?mode=0660");
  ASSERT_TRUE(unix_);
  EXPECT_EQ(unix_->kind, ListenerKind::kUnix);
  EXPECT_EQ(unix_->path, "/run/app.sock");
  ASSERT_TRUE(unix_->mode);
  EXPECT_EQ(*unix_->mode, 0660u);
  EXPECT_EQ(unix_->to_string(), "admin=unix:///run/app.sock?mode=0660");
}

TEST(ListenerSpec, UrlRoundTrips) {
  for (const char* text : {"a=tcp://127.0.0.1:1", "b=udp://[::]:53", "c=unix:///tmp/x.sock", "d=unix:///tmp/y?mode=0600"}) {
    auto spec = parse_listener_spec(text);
    ASSERT_TRUE(spec) << text;
    EXPECT_EQ(spec->to_string(), text);
  }
}

struct BadSpec {
  const char* text;
  const char* says;  // the error must name the bad part
  friend void PrintTo(const BadSpec& b, std::ostream* os) { *os << b.text; }
};

class ListenerSpecErrors : public ::testing::TestWithParam<BadSpec> {};

TEST_P(ListenerSpecErrors, NameTheBadPart) {
  auto r = parse_listener_spec(GetParam().text);
  ASSERT_FALSE(r) << GetParam().text << " was accepted";
  EXPECT_NE(r.status().message().find(GetParam().says), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(GetParam().text), std::string::npos) << "the error quotes the input";
}

INSTANTIATE_TEST_SUITE_P(
    All, ListenerSpecErrors,
    ::testing::Values(BadSpec{"http=127.0.0.1:80", "no scheme"},
                      BadSpec{"http=ftp://127.0.0.1:80", "unknown scheme \"ftp\""},
                      BadSpec{"http=tcp://127.0.0.1", "missing :PORT"},
                      BadSpec{"http=tcp://127.0.0.1:", "missing PORT"},
                      BadSpec{"http=tcp://:80", "missing HOST"},
                      BadSpec{"http=tcp://127.0.0.1:http", "\"http\" is not a number"},
                      BadSpec{"http=tcp://127.0.0.1:70000", "out of range"},
                      BadSpec{"http=tcp://::1:80", "must be written in brackets"},
                      BadSpec{"http=tcp://[::1:80", "no closing ']'"},
                      BadSpec{"tcp://[[]:0", "host \"[\" is not an IPv6 address"},  // found by fuzz_listener_spec
                      BadSpec{"tcp://[127.0.0.1]:0", "is not an IPv6 address"},
                      BadSpec{"tcp://a/b:80", "is not a host name or IPv4 address"},
                      BadSpec{"bad name=tcp://127.0.0.1:80", "name \"bad name\""},
                      BadSpec{"=tcp://127.0.0.1:80", "name \"\""},
                      BadSpec{"s=unix://relative.sock", "must be absolute"},
                      BadSpec{"s=unix:///tmp/a.sock?mode=999", "not an octal mode"},
                      BadSpec{"s=unix:///tmp/a.sock?owner=me", "unknown option"}));

TEST(ListenerSpec, UnixPathLongerThanSunPathIsRefused) {
  std::string path = "s=unix:///" + std::string(200, 'a');
  auto r = parse_listener_spec(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("the limit is 107"), std::string::npos);
}

}  // namespace
}  // namespace baton
