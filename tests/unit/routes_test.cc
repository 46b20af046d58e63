#include "routes.h"

#include <gtest/gtest.h>

namespace kvstore {
namespace {

Response call(Store& store, std::string method, std::string path, std::string body = {}, bool draining = false) {
  ServerFacts facts{.pid = 42, .generation = 7, .worker_index = 0, .requests = 3, .connections = 2, .writes = 5,
                    .state_version = 2, .draining = draining};
  return route({std::move(method), std::move(path), std::move(body)}, store, facts);
}

TEST(Routes, KeyValueLifecycle) {
  Store s;
  EXPECT_EQ(call(s, "GET", "/kv/a").status, 404);
  EXPECT_EQ(call(s, "PUT", "/kv/a", "hello").status, 200);
  auto got = call(s, "GET", "/kv/a");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "hello");
  EXPECT_EQ(call(s, "DELETE", "/kv/a").status, 200);
  EXPECT_EQ(call(s, "DELETE", "/kv/a").status, 404);
  EXPECT_EQ(call(s, "PUT", "/kv/").status, 400);
  auto bad = call(s, "POST", "/kv/a");
  EXPECT_EQ(bad.status, 405);
  EXPECT_EQ(bad.allow, "GET, PUT, DELETE");
}

TEST(Routes, StatsHealthAndRoot) {
  Store s{{"k", "v"}};
  auto stats = call(s, "GET", "/stats");
  EXPECT_EQ(stats.content_type, "application/json");
  EXPECT_EQ(stats.body,
            "{\"pid\":42,\"generation\":7,\"worker_index\":0,\"requests\":3,\"keys\":1,\"writes\":5,"
            "\"state_version\":2,\"connections\":2,\"draining\":false,\"store\":\"this worker's own\"}\n");
  EXPECT_EQ(call(s, "GET", "/healthz").body, "ok\n");
  auto draining = call(s, "GET", "/healthz", {}, true);
  EXPECT_EQ(draining.status, 503);
  EXPECT_EQ(draining.body, "draining\n");
  auto root = call(s, "GET", "/");
  EXPECT_EQ(root.status, 200);
  EXPECT_NE(root.body.find("generation 7"), std::string::npos);
  EXPECT_EQ(call(s, "GET", "/nope").status, 404);
}

}  // namespace
}  // namespace kvstore
