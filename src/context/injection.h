// Context injection: turning retrieval hits into the excerpts a chat model reads. The query is the last user
// message, with the previous user message in front when the last one is a follow-up ("and on Windows?",
// "why is that?"), so it still finds what the conversation is about. Hits are numbered [1], [2], … and each
// becomes "[n] path:lines (title)" followed by its text; when they do not all fit in the token budget, each hit
// is compressed to its sentences most relevant to the query (most query words, then earliest), in their
// original order, and its cited lines narrowed to those sentences. The block goes at the end of the system
// message (a new system message when there is none).
//
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "context/chunker.h"
#include "context/context_index.h"

namespace hearth::context {

struct ChatTurn {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
};

// The text to retrieve with for a conversation; "" when it has no user message.
std::string retrieval_query(const std::vector<ChatTurn>& conversation);

struct ContextSource {
  int id = 0;  // the [n] the excerpt is cited by
  std::string path;
  uint32_t line_begin = 0, line_end = 0;  // the lines of what was inserted
  std::string title;
  std::string snippet;
  std::vector<std::pair<int, int>> marks;
  double score = 0;
  std::string excerpt;  // the text inserted (the chunk, or its sentences that fit)
};

struct Injection {
  std::string block;  // the text added to the system message ("" when no hit fits)
  std::vector<ContextSource> sources;
  int tokens = 0;  // the block's tokens by the counter
};

// The excerpts of `hits` (best first) for `query` within `budget_tokens` by `count_tokens` (the chat model's).
// Hits that do not fit even compressed are left out, so the budget always holds.
Injection build_injection(const std::string& query, const std::vector<SearchHit>& hits,
                          const TokenCounter& count_tokens, int budget_tokens);

// The system message with the block appended: `system` + blank line + block (or the block alone).
std::string system_with_context(const std::string& system, const Injection& injection);

}  // namespace hearth::context
