//! The file sink: writes a recording folder from the recorder's per-tick output.
//!
//! Layout: `participants/<name>.wav` (one stem per participant, 16-bit PCM at the recording's rate, as long as
//! the recording) and `mixed.wav` (the lossless mix). `metadata.json` is written by [`crate::record`] at the end.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use media_core::AudioFormat;

use crate::engine::{ParticipantInfo, RecordingSink};

/// A file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}", path = path.display())]
pub struct SinkError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: hound::Error,
}

type Wav = hound::WavWriter<BufWriter<File>>;

/// Writes stems and the mix as WAV files in a recording folder.
pub struct WavFolderSink {
    dir: PathBuf,
    spec: hound::WavSpec,
    stems: Vec<(PathBuf, Wav)>,
    mixed: Option<(PathBuf, Wav)>,
}

impl WavFolderSink {
    /// Creates `dir/participants/` and `dir/mixed.wav`.
    ///
    /// # Errors
    /// When the folder or the file cannot be created.
    pub fn create(dir: &Path, format: AudioFormat) -> Result<Self, SinkError> {
        let spec = hound::WavSpec {
            channels: format.channels,
            sample_rate: format.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let parts = dir.join("participants");
        fs::create_dir_all(&parts).map_err(|e| SinkError {
            path: parts.clone(),
            source: e.into(),
        })?;
        let mixed_path = dir.join("mixed.wav");
        let mixed = hound::WavWriter::create(&mixed_path, spec).map_err(|e| SinkError {
            path: mixed_path.clone(),
            source: e,
        })?;
        Ok(WavFolderSink {
            dir: dir.to_path_buf(),
            spec,
            stems: Vec::new(),
            mixed: Some((mixed_path, mixed)),
        })
    }

    /// Finalizes every file (headers with final sizes).
    ///
    /// # Errors
    /// The first file that cannot be finalized.
    pub fn finish(mut self) -> Result<(), SinkError> {
        for (path, w) in self.stems.drain(..) {
            w.finalize().map_err(|e| SinkError { path, source: e })?;
        }
        if let Some((path, w)) = self.mixed.take() {
            w.finalize().map_err(|e| SinkError { path, source: e })?;
        }
        Ok(())
    }
}

fn write_all(path: &Path, w: &mut Wav, samples: &[i16]) -> Result<(), SinkError> {
    let mut i16w = w.get_i16_writer(samples.len() as u32);
    for &s in samples {
        i16w.write_sample(s);
    }
    i16w.flush().map_err(|e| SinkError {
        path: path.to_path_buf(),
        source: e,
    })
}

impl RecordingSink for WavFolderSink {
    type Error = SinkError;

    fn participant_added(
        &mut self,
        index: usize,
        p: &ParticipantInfo,
        lead_in: u64,
    ) -> Result<(), SinkError> {
        let path = self
            .dir
            .join("participants")
            .join(format!("{}.wav", p.name));
        let mut w = hound::WavWriter::create(&path, self.spec).map_err(|e| SinkError {
            path: path.clone(),
            source: e,
        })?;
        let zeros = [0i16; 1024];
        let mut left = lead_in * self.spec.channels as u64;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            write_all(&path, &mut w, &zeros[..n])?;
            left -= n as u64;
        }
        debug_assert_eq!(index, self.stems.len());
        self.stems.push((path, w));
        Ok(())
    }

    fn stem(&mut self, index: usize, samples: &[i16]) -> Result<(), SinkError> {
        if let Some((path, w)) = self.stems.get_mut(index) {
            write_all(path, w, samples)?;
        }
        Ok(())
    }

    fn mixed(&mut self, samples: &[i16]) -> Result<(), SinkError> {
        if let Some((path, w)) = self.mixed.as_mut() {
            write_all(path, w, samples)?;
        }
        Ok(())
    }
}
