// /v1/embeddings on an encoder: texts go through the model's EmbedBatcher (merged with other requests' texts);
// token-id inputs are encoded as given, framing tokens included (OpenAI's token inputs come from the model's own
// tokenizer; here that means ids such as BERT's [CLS] … [SEP] are the caller's to add).
#pragma once

#include "server/model_set.h"
#include "server/request.h"
#include "server/responses.h"

namespace hearth::server {

Json run_embeddings(const EncoderEntry& model, const EmbeddingRequest& request, const std::string& model_id);

}  // namespace hearth::server
