// /v1/embeddings on an encoder: texts go through the model's EmbedBatcher (merged with other requests' texts);
// token-id inputs are encoded as given, framing tokens included (OpenAI's token inputs come from the model's own
// tokenizer; here that means ids such as BERT's [CLS] … [SEP] are the caller's to add).
#pragma once

#include "server/model_set.h"
#include "server/request.h"
#include "server/responses.h"

namespace hearth::server {

// `dimensions` truncates each vector to its first N values and L2-normalises it again, which is only meaningful
// for models trained for it (Matryoshka representation learning): nothing in a GGUF says so, so the server's
// operator names them (`matryoshka`, from --matryoshka); for the others it is a 400.
Json run_embeddings(const EncoderEntry& model, const EmbeddingRequest& request, const std::string& model_id,
                    bool matryoshka = false);

}  // namespace hearth::server
