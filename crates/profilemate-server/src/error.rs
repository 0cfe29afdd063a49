//! Defines [`SimError`], every way a request can fail, rendered as vLLM's OpenAI-style error
//! JSON (`ErrorResponse` in vllm/entrypoints/serve/engine/protocol.py, vLLM 0.32):
//! `{"error": {"message", "type", "param", "code"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use profilemate_sim::RequestError;
use serde_json::json;

/// A request the server refuses or cannot finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The body is not valid JSON for the endpoint (vLLM answers 400).
    #[error("{0}")]
    InvalidJson(String),
    /// The body could not be read (too large: 413).
    #[error("{message}")]
    Body {
        /// HTTP status from the body reader.
        status: StatusCode,
        /// What went wrong.
        message: String,
    },
    /// A field vLLM would reject.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong and how to fix it.
        message: String,
        /// The offending field.
        param: Option<&'static str>,
    },
    /// The request names another model (`OpenAIServing._check_model`, 404).
    #[error("The model `{model}` does not exist. Valid aliases: {served}.")]
    ModelNotFound {
        /// The requested name.
        model: String,
        /// The served name.
        served: String,
    },
    /// A prompt longer than `--max-model-len`, or empty, or `max_tokens` 0 (400).
    #[error(transparent)]
    Rejected(#[from] RequestError),
    /// Too many live requests: the server's memory bound (503).
    #[error("the server has {limit} requests in flight; retry later")]
    Overloaded {
        /// The live-request limit.
        limit: usize,
    },
    /// The request-body budget cannot take this body now (503, before the body is read).
    #[error(
        "the server is reading as many request bodies as its budget of {budget} bytes allows \
         (--body-budget-mib); this one declares {wanted} bytes: retry later"
    )]
    BodyBudget {
        /// The budget.
        budget: usize,
        /// What this body reserves.
        wanted: usize,
    },
    /// The engine thread has stopped (shutdown): 503.
    #[error("the engine is shutting down")]
    EngineStopped,
    /// The engine thread died (a step panicked): vLLM's `EngineDeadError`
    /// (vllm/v1/engine/exceptions.py, vLLM 0.32), a 500 `InternalServerError`.
    #[error("EngineCore encountered an issue. See stack trace (above) for the root cause.")]
    EngineDead,
    /// Missing or wrong API key: vLLM's plain `{"error": "Unauthorized"}` with 401.
    #[error("Unauthorized")]
    Unauthorized,
}

impl SimError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            SimError::Body { status, .. } => *status,
            SimError::ModelNotFound { .. } => StatusCode::NOT_FOUND,
            SimError::Overloaded { .. } | SimError::BodyBudget { .. } | SimError::EngineStopped => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            SimError::Unauthorized => StatusCode::UNAUTHORIZED,
            SimError::EngineDead => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// vLLM's `type` field for the status.
    fn kind(&self) -> &'static str {
        match self.status() {
            StatusCode::NOT_FOUND => "NotFoundError",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailableError",
            StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLargeError",
            StatusCode::INTERNAL_SERVER_ERROR => "InternalServerError",
            _ => "BadRequestError",
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            SimError::InvalidRequest { param, .. } => *param,
            SimError::ModelNotFound { .. } => Some("model"),
            _ => None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        if let SimError::Unauthorized = self {
            return json!({ "error": "Unauthorized" });
        }
        json!({
            "error": {
                "message": self.to_string(),
                "type": self.kind(),
                "param": self.param(),
                "code": self.status().as_u16(),
            }
        })
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

/// A server that could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] crate::ServerConfigError),
    /// The metric registry refused a metric (a duplicate name).
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] profilemate_metrics::RegistryError),
    /// Binding or serving the socket failed.
    #[error("cannot serve on {addr}: {source}")]
    Io {
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// The engine thread could not be started.
    #[error("cannot start the engine thread: {0}")]
    EngineThread(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_long_is_a_400_with_vllm_text() {
        let err = SimError::from(RequestError::PromptTooLong {
            prompt: 120,
            max_model_len: 100,
        });
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let body = err.body();
        assert_eq!(body["error"]["code"], 400);
        assert_eq!(body["error"]["type"], "BadRequestError");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("The decoder prompt (length 120) is longer than"));
    }

    #[test]
    fn unknown_model_is_a_404_naming_the_param() {
        let err = SimError::ModelNotFound {
            model: "x".into(),
            served: "tiny".into(),
        };
        assert_eq!(err.body()["error"]["param"], "model");
        assert_eq!(err.body()["error"]["code"], 404);
    }
}
