// Streams a completion of a prompt, using only hearth's public API (<hearth/...>, linked against libhearth).
//
//   generate MODEL PROMPT [MAX_TOKENS]
//
// Decoding is greedy (the most likely token each time), so the same model and prompt always give the same text.
#include <hearth/hearth.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s MODEL PROMPT [MAX_TOKENS]\n", argv[0]);
    return 2;
  }
  try {
    std::shared_ptr<hearth::Model> model = hearth::Model::open(argv[1]);
    hearth::Engine engine(model);

    hearth::GenerationRequest request;
    request.prompt = argv[2];
    request.max_tokens = argc == 4 ? std::atoi(argv[3]) : 128;
    request.temperature = 0;
    // Runs on the engine's thread as each piece of text is final; flushing shows it as it arrives.
    request.on_text = [](std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    };
    std::fputs(request.prompt.c_str(), stdout);
    const hearth::GenerationResult result = engine.submit(std::move(request))->wait();
    std::printf("\n");
    std::fprintf(stderr, "[%s: %d prompt tokens, %d generated, finished: %s]\n", model->info().architecture.c_str(),
                 result.usage.prompt_tokens, result.usage.completion_tokens, hearth::to_string(result.finish_reason));
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "generate: %s (%s)\n", e.what(), hearth::to_string(e.kind()));
    return 1;
  }
  return 0;
}
