// Server-sent events as OpenAI streams them: each event is one "data: <json>" line and a blank line, and the
// stream ends with "data: [DONE]".
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace hearth::server {

inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// One event. JSON never holds a raw newline (dump escapes it), so one data line always suffices.
inline std::string sse_event(const nlohmann::ordered_json& j) {
  return "data: " + j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n\n";
}

}  // namespace hearth::server
