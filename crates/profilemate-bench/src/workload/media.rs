//! Builds the multimodal content parts the chat backend sends: `image_url` parts (file
//! references or base64 data URLs) and `input_audio` parts from 16-bit PCM WAV. Mirrors `process_image` / `process_video` / `process_audio` in
//! vllm/benchmarks/datasets/datasets.py, vLLM 0.32.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use crate::error::DatasetError;

/// Standard base64 of `bytes`.
pub(crate) fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `{"type": "image_url", "image_url": {"url": url}}`.
pub(crate) fn image_part(url: String) -> Value {
    json!({"type": "image_url", "image_url": {"url": url}})
}

/// `process_image` for a string: URLs (`http://`, `https://`, `file://`, `data:image/`) are
/// kept, anything else is a local path sent as `file://PATH` for the server to read. With
/// `ensure_client_side_data` (`--custom-ensure-client-side-data`) a local file is read here and
/// sent as a base64 data URL instead. vLLM re-encodes the image as PNG; here the file's own
/// bytes are sent with their own type (PNG, JPEG, GIF, WebP, BMP), which the server decodes
/// the same way. HTTP(S) images are not fetched by the client (download them and name the file).
pub(crate) fn image_ref(reference: &str, ensure_client_side_data: bool) -> Result<Value, String> {
    let is_url = ["http://", "https://", "file://", "data:image/"]
        .iter()
        .any(|p| reference.starts_with(p));
    let url = if is_url {
        reference.to_string()
    } else {
        format!("file://{reference}")
    };
    if !ensure_client_side_data || url.starts_with("data:image/") {
        return Ok(image_part(url));
    }
    if url.starts_with("http") {
        return Err(format!(
            "--custom-ensure-client-side-data: {url} is remote and profilemate does not fetch images; download it and name the local file"
        ));
    }
    let path = url.trim_start_matches("file://");
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read image {path}: {e}"))?;
    let mime = image_mime(&bytes)
        .ok_or_else(|| format!("{path}: not a PNG, JPEG, GIF, WebP or BMP image"))?;
    Ok(image_part(format!("data:{mime};base64,{}", base64(&bytes))))
}

/// An `image_url` part carrying `bytes` (an image file's contents) as a data URL of its own
/// type (vLLM's `process_image` for `{"bytes": ...}` re-encodes as JPEG instead).
pub(crate) fn image_bytes_part(bytes: &[u8]) -> Result<Value, String> {
    let mime =
        image_mime(bytes).ok_or("image bytes are not a PNG, JPEG, GIF, WebP or BMP image")?;
    Ok(image_part(format!("data:{mime};base64,{}", base64(bytes))))
}

/// The bytes of standard base64 text.
pub(crate) fn unbase64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The image type from the file's magic bytes.
fn image_mime(bytes: &[u8]) -> Option<&'static str> {
    Some(match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => "image/webp",
        [b'B', b'M', ..] => "image/bmp",
        _ => return None,
    })
}

/// The `input_audio` part for a 16-bit PCM WAV file, as vLLM's `CustomAudioDataset` builds it
/// with `--enable-multimodal-chat` (`sf.read` then `sf.write(..., format="WAV")`, whose default
/// subtype is 16-bit PCM): the samples are re-wrapped in a plain 44-byte WAV header.
pub(crate) fn audio_part(path: &Path) -> Result<Value, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let wav = pcm16_wav(&bytes).map_err(|reason| DatasetError::Format {
        path: path.to_path_buf(),
        line: 0,
        reason: format!(
            "{reason}; profilemate sends 16-bit PCM WAV audio (convert with `ffmpeg -i IN -c:a pcm_s16le OUT.wav`)"
        ),
    })?;
    Ok(json!({"type": "input_audio", "input_audio": {"data": base64(&wav), "format": "wav"}}))
}

/// The canonical 44-byte-header WAV of a 16-bit PCM RIFF/WAVE file's samples.
pub(crate) fn pcm16_wav(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let (mut fmt, mut data) = (None, None);
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body = &bytes[at + 8..(at + 8).saturating_add(len).min(bytes.len())];
        match id {
            b"fmt " if body.len() >= 16 => fmt = Some(body),
            b"data" => data = Some(body),
            _ => {}
        }
        at = (at + 8).saturating_add(len).saturating_add(len & 1);
    }
    let fmt = fmt.ok_or("no fmt chunk")?;
    let data = data.ok_or("no data chunk")?;
    let u16_at = |i: usize| u16::from_le_bytes([fmt[i], fmt[i + 1]]);
    let (format, channels, bits) = (u16_at(0), u16_at(2), u16_at(14));
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    if !(format == 1 || format == 0xFFFE) || bits != 16 || channels == 0 {
        return Err(format!(
            "WAV format {format}, {bits}-bit, {channels} channel(s) is not 16-bit PCM"
        ));
    }
    Ok(wav_pcm16(channels, rate, &data[..data.len() & !1]))
}

/// A WAV file (44-byte header) around 16-bit little-endian PCM `samples`.
pub(crate) fn wav_pcm16(channels: u16, rate: u32, samples: &[u8]) -> Vec<u8> {
    let block = channels * 2;
    let mut out = Vec::with_capacity(44 + samples.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    out.extend_from_slice(samples);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_follow_process_image() {
        let part = image_ref("img/a.png", false).unwrap();
        assert_eq!(part["image_url"]["url"], "file://img/a.png");
        for url in [
            "http://h/x.jpg",
            "file:///x.png",
            "data:image/png;base64,AA",
        ] {
            assert_eq!(image_ref(url, false).unwrap()["image_url"]["url"], url);
        }
        assert!(
            image_ref("https://h/x.jpg", true)
                .unwrap_err()
                .contains("download")
        );
        assert_eq!(
            image_ref("data:image/png;base64,AA", true).unwrap()["image_url"]["url"],
            "data:image/png;base64,AA"
        );
    }

    #[test]
    fn wav_is_rewrapped_and_others_refused() {
        let plain = wav_pcm16(1, 16_000, &[1, 0, 2, 0]);
        assert_eq!(pcm16_wav(&plain).unwrap(), plain);
        let mut with_list = plain[..36].to_vec();
        with_list.extend_from_slice(b"LIST\x03\x00\x00\x00abc\x00");
        with_list.extend_from_slice(&plain[36..]);
        assert_eq!(pcm16_wav(&with_list).unwrap(), plain);
        let mut float = plain.clone();
        float[34] = 32;
        assert!(pcm16_wav(&float).unwrap_err().contains("32-bit"));
        assert!(pcm16_wav(b"fLaC").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_wav_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
            let mut b = b"RIFF\0\0\0\0WAVE".to_vec();
            b.extend_from_slice(&bytes);
            let _ = pcm16_wav(&b);
            let _ = pcm16_wav(&bytes);
        }
    }
}
