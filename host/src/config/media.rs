//! `[media]`: the images of multimodal chat messages (docs/api.md#content-blocks).

use super::{ByteSize, ConfigError, Ctx};
use serde::Deserialize;

/// Room for a screenshot or a diagram. Kept below the default `server.max_body_size`
/// (1 MiB) with base64's third on top, so that one image of the largest accepted size
/// fits in a request with the default body limit.
const MAX_IMAGE_SIZE: ByteSize = ByteSize::kib(512);

/// Eight images of the default largest size, base64 included about 5.3 MiB of JSON.
const MAX_INLINE_SIZE: ByteSize = ByteSize::mib(4);

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Largest image accepted in a content block (decoded bytes); larger is `413`.
    pub max_image_size: ByteSize,
    /// Image bytes one MCP `prompts/get` answer carries inline, all images together
    /// (decoded, each occurrence counted); images past it travel as a text line naming
    /// their REST URL. References are a few bytes each in a stored version, so without
    /// this a small prompt could make one answer of any size.
    pub max_inline_size: ByteSize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_image_size: MAX_IMAGE_SIZE,
            max_inline_size: MAX_INLINE_SIZE,
        }
    }
}

impl MediaConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        if self.max_image_size.0 == 0 {
            return Err(cx.invalid("media.max_image_size", "must be at least 1 byte"));
        }
        if self.max_image_size.0 > crate::storage::MAX_BLOB_BYTES as u64 {
            return Err(cx.invalid(
                "media.max_image_size",
                format!(
                    "must be at most {} bytes (the largest blob)",
                    crate::storage::MAX_BLOB_BYTES
                ),
            ));
        }
        if self.max_inline_size.0 > crate::storage::MAX_BLOB_BYTES as u64 {
            return Err(cx.invalid(
                "media.max_inline_size",
                format!(
                    "must be at most {} bytes; 0 sends no image inline",
                    crate::storage::MAX_BLOB_BYTES
                ),
            ));
        }
        Ok(())
    }
}
