//! Finds a model's `config.json` in the local Hugging Face hub cache, where vLLM (through
//! `huggingface_hub`) finds a downloaded model.
//!
//! Mirrors `huggingface_hub` (the version vLLM 0.32 pins): the cache directory of
//! `constants.py` (`HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, with
//! `HF_HOME` defaulting to `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`), the
//! folder name of `file_download.repo_folder_name` (`models--ORG--NAME`), and the snapshot
//! choice of `try_to_load_from_cache` (the commit `refs/main` names).

use std::path::{Path, PathBuf};

/// The environment the hub cache directory depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubEnv {
    /// `HF_HUB_CACHE`.
    pub hf_hub_cache: Option<PathBuf>,
    /// `HUGGINGFACE_HUB_CACHE` (the legacy name).
    pub huggingface_hub_cache: Option<PathBuf>,
    /// `HF_HOME`.
    pub hf_home: Option<PathBuf>,
    /// `XDG_CACHE_HOME`.
    pub xdg_cache_home: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
}

impl HubEnv {
    /// Reads the variables from this process's environment (an empty value counts as unset).
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            hf_hub_cache: var("HF_HUB_CACHE"),
            huggingface_hub_cache: var("HUGGINGFACE_HUB_CACHE"),
            hf_home: var("HF_HOME"),
            xdg_cache_home: var("XDG_CACHE_HOME"),
            home: var("HOME"),
        }
    }

    /// The hub cache directory, or `None` when nothing names one (no `HOME` either).
    pub fn hub_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = self
            .hf_hub_cache
            .as_ref()
            .or(self.huggingface_hub_cache.as_ref())
        {
            return Some(dir.clone());
        }
        let hf_home = match (&self.hf_home, &self.xdg_cache_home, &self.home) {
            (Some(home), _, _) => home.clone(),
            (None, Some(xdg), _) => xdg.join("huggingface"),
            (None, None, Some(home)) => home.join(".cache").join("huggingface"),
            (None, None, None) => return None,
        };
        Some(hf_home.join("hub"))
    }
}

/// Whether `name` has the shape of a Hugging Face model id: `ORG/NAME`, both parts non-empty.
pub fn is_repo_id(name: &str) -> bool {
    match name.split_once('/') {
        Some((org, model)) => {
            !org.is_empty() && !model.is_empty() && !model.contains('/') && !org.starts_with('.')
        }
        None => false,
    }
}

/// The cache folder of a model repository: `models--ORG--NAME`.
pub fn repo_folder_name(repo_id: &str) -> String {
    format!("models--{}", repo_id.replace('/', "--"))
}

/// The cached `config.json` of `repo_id` under the hub directory `hub`: the snapshot that
/// `refs/main` names, else the most recently written snapshot holding a `config.json`. The
/// repository folder is matched exactly, else ignoring case (the Hub treats ids so).
pub fn cached_config(hub: &Path, repo_id: &str) -> Option<PathBuf> {
    let repo = repo_dir(hub, repo_id)?;
    let snapshots = repo.join("snapshots");
    if let Ok(commit) = std::fs::read_to_string(repo.join("refs").join("main")) {
        let config = snapshots.join(commit.trim()).join("config.json");
        if config.is_file() {
            return Some(config);
        }
    }
    std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("config.json"))
        .filter_map(|config| {
            let modified = std::fs::metadata(&config).ok()?.modified().ok()?;
            Some((modified, config))
        })
        .max()
        .map(|(_, config)| config)
}

/// The repository's folder under `hub`, if it is there.
fn repo_dir(hub: &Path, repo_id: &str) -> Option<PathBuf> {
    let folder = repo_folder_name(repo_id);
    let exact = hub.join(&folder);
    if exact.is_dir() {
        return Some(exact);
    }
    std::fs::read_dir(hub)
        .ok()?
        .filter_map(Result::ok)
        .find(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .eq_ignore_ascii_case(&folder)
        })
        .map(|entry| entry.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> HubEnv {
        let get = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| PathBuf::from(v))
        };
        HubEnv {
            hf_hub_cache: get("HF_HUB_CACHE"),
            huggingface_hub_cache: get("HUGGINGFACE_HUB_CACHE"),
            hf_home: get("HF_HOME"),
            xdg_cache_home: get("XDG_CACHE_HOME"),
            home: get("HOME"),
        }
    }

    #[test]
    fn hub_dir_follows_huggingface_hubs_precedence() {
        let all = [
            ("HF_HUB_CACHE", "/a"),
            ("HUGGINGFACE_HUB_CACHE", "/b"),
            ("HF_HOME", "/c"),
            ("XDG_CACHE_HOME", "/d"),
            ("HOME", "/e"),
        ];
        let dir = |n: usize| env(&all[n..]).hub_dir().unwrap();
        assert_eq!(dir(0), PathBuf::from("/a"));
        assert_eq!(dir(1), PathBuf::from("/b"));
        assert_eq!(dir(2), PathBuf::from("/c/hub"));
        assert_eq!(dir(3), PathBuf::from("/d/huggingface/hub"));
        assert_eq!(dir(4), PathBuf::from("/e/.cache/huggingface/hub"));
        assert_eq!(env(&[]).hub_dir(), None);
    }

    #[test]
    fn repo_ids_and_their_folders() {
        assert!(is_repo_id("meta-llama/Llama-3.1-8B"));
        for not_an_id in ["llama-3.1-8b", "/abs/path", "a/b/c", "org/", "/name", "./x"] {
            assert!(!is_repo_id(not_an_id), "{not_an_id}");
        }
        assert_eq!(
            repo_folder_name("meta-llama/Llama-3.1-8B"),
            "models--meta-llama--Llama-3.1-8B"
        );
    }

    #[test]
    fn cached_config_prefers_the_snapshot_refs_main_names() {
        let hub = std::env::temp_dir().join(format!("pm-hf-cache-{}", std::process::id()));
        let repo = hub.join("models--Acme--Tiny");
        for snapshot in ["aaa", "bbb"] {
            let dir = repo.join("snapshots").join(snapshot);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("config.json"), "{}").unwrap();
        }
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), "aaa\n").unwrap();
        let found = cached_config(&hub, "acme/tiny").unwrap();
        assert_eq!(found, repo.join("snapshots/aaa/config.json"));
        std::fs::remove_file(repo.join("refs").join("main")).unwrap();
        assert!(
            cached_config(&hub, "Acme/Tiny").is_some(),
            "any snapshot without refs"
        );
        assert_eq!(cached_config(&hub, "acme/other"), None);
        std::fs::remove_dir_all(&hub).unwrap();
    }
}
