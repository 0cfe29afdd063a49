//! A request body to `sim serve`'s `/v1/completions` and `/v1/chat/completions`, decoded and
//! turned into prompt token ids as the server does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use profilemate_server::protocol::{ChatRequest, CompletionRequest, chat_token_ids};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<CompletionRequest>(data) {
        let _ = request.prompt.token_ids();
    }
    if let Ok(request) = serde_json::from_slice::<ChatRequest>(data) {
        let _ = chat_token_ids(&request.messages);
    }
});
