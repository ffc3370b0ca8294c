// One HTTP exchange with a test server (ServerProcess), for the server suites: the status and body, with the
// body parsed as JSON on demand. Bounded: a connection attempt of 10 s, a read of 120 s.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "server_process.h"

namespace hearth::test {

struct Reply {
  int status = 0;  // 0: no answer (connection failed or timed out)
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// GET or POST (`method`) with an optional JSON body and bearer key.
inline Reply call(const ServerProcess& s, const std::string& method, const std::string& path,
                  const std::string& body = "", const std::string& key = "") {
  httplib::Client cli(s.host(), s.port());
  cli.set_read_timeout(std::chrono::seconds(120));
  cli.set_connection_timeout(std::chrono::seconds(10));
  httplib::Headers headers;
  if (!key.empty()) headers.emplace("Authorization", "Bearer " + key);
  auto r = method == "GET" ? cli.Get(path, headers) : cli.Post(path, headers, body, "application/json");
  if (!r) return {};
  return {r->status, r->body};
}

}  // namespace hearth::test
