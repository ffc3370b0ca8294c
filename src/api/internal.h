// What the public API's implementation (src/api/*.cpp) shares: the internal types it wraps, under names that
// stay unambiguous once the public headers are in, and what happens to exceptions at the boundary.
//
// The public types live in the inline namespace hearth::v1, the internal ones directly in hearth, and some share
// a name (Engine, Usage, …; Error is one type for both). A file that sees both cannot say hearth::Engine (ambiguous), so this header
// names the internal types first — an alias keeps denoting the type it named — and includes the public headers
// after. The API's .cpp files include this header only.
#pragma once

#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <utility>

#include "backends/registry.h"
#include "core/error.h"
#include "runtime/embedder.h"
#include "runtime/engine.h"
#include "runtime/sequence.h"
#include "runtime/session.h"

namespace hearth::internal {
using Engine = ::hearth::Engine;
using EngineOptions = ::hearth::EngineOptions;
using FinishReason = ::hearth::FinishReason;
using Priority = ::hearth::Priority;
}  // namespace hearth::internal

#include "hearth/hearth.h"

namespace hearth::inline v1 {

// Runs f, turning running out of memory into the Error kind that says so; hearth's own Errors are the public
// type already (core/error.h uses include/hearth/error.h) and pass through, as does anything a caller's callback
// threw. Every public entry point that reaches the internals runs them through this.
template <typename F>
decltype(auto) translate_errors(F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const std::bad_alloc&) {
    throw Error("out of memory", ErrorKind::kResourceExhausted);
  }
}

struct Model::Impl {
  ModelInfo info;
  // A decoder: what open_decoder loads (weights, backend, network, tokenizer), kept whole so that this code
  // does not depend on how the session holds each part.
  std::optional<DecoderSession> decoder;
  // An encoder: its backend, declared before the embedder that runs on it so that it is destroyed after it.
  std::shared_ptr<Backend> backend;  // the process-wide one of its device (shared_backend)
  std::unique_ptr<Embedder> embedder;

  const Tokenizer& tokenizer() const { return decoder ? *decoder->tokenizer : embedder->tokenizer(); }
};

}  // namespace hearth::inline v1
