//! Draws a recording folder's speaker timeline: `cargo run -p timeline-svg --example render_metadata --
//! FOLDER/metadata.json OUT.svg [STEM.wav WAVEFORM.svg]` (to look at the picture while changing it).

use timeline_svg::{peaks_from_wav_path, render_svg, waveform_svg, SvgOptions, TimelineInput};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [metadata, out, rest @ ..] = args.as_slice() else {
        return Err("usage: render_metadata METADATA.json OUT.svg [STEM.wav WAVEFORM.svg]".into());
    };
    let input = TimelineInput::from_metadata_json(&std::fs::read(metadata)?)?;
    let opts = SvgOptions::default();
    std::fs::write(out, render_svg(&input, &opts))?;
    if let [wav, wave_out, ..] = rest {
        let peaks = peaks_from_wav_path(wav.as_ref(), 50_000)?;
        std::fs::write(wave_out, waveform_svg(&peaks, input.duration_us, &opts))?;
    }
    Ok(())
}
