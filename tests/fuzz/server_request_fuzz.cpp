// libFuzzer target: arbitrary request bodies through the server's request parsers (every endpoint). Anything
// malformed must be an ApiError with a 4xx status; any other exception, crash, sanitizer report or hang is a
// finding. The first byte picks the endpoint, the rest is the body; one more choice takes the rest as a model's
// text and checks the SSE framing of a chunk holding it: one "data: " line and a blank line, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/api_error.h"
#include "server/request.h"
#include "server/sse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 5) {
      case 4: {
        const std::string event = hearth::server::sse_event({{"delta", {{"content", std::string(body)}}}});
        const size_t end = event.size() - 2;
        if (event.rfind("data: ", 0) != 0 || event.compare(end, 2, "\n\n") != 0 ||
            event.find_first_of("\r\n") != end)
          std::abort();
        const auto parsed = nlohmann::ordered_json::parse(event.substr(6, end - 6), nullptr, false);
        if (parsed.is_discarded() || !parsed["delta"]["content"].is_string()) std::abort();
        break;
      }
      case 0: {
        const auto r = hearth::server::parse_chat_request(body);
        if (!r.messages.is_array() || r.messages.empty() || r.n < 1) std::abort();
        break;
      }
      case 1: {
        const auto r = hearth::server::parse_completion_request(body);
        if (r.prompts.empty() || r.n < 1) std::abort();
        break;
      }
      case 3: {
        const auto r = hearth::server::parse_rerank_request(body);
        if (r.documents.empty() || (r.top_n && *r.top_n < 1)) std::abort();
        break;
      }
      default: {
        const auto r = hearth::server::parse_embedding_request(body);
        if (r.texts.empty() == r.token_inputs.empty()) std::abort();  // exactly one kind of input
        break;
      }
    }
  } catch (const hearth::server::ApiError& e) {
    if (e.status() < 400 || e.status() >= 500) std::abort();
  }
  return 0;
}
