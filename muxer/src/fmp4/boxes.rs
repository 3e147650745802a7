//! Box bytes as pure functions of plain config structs, encoded with `shiguredo_mp4`'s box types.

use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use shiguredo_mp4::boxes::{AudioSampleEntryFields, Brand, VisualSampleEntryFields};
use shiguredo_mp4::boxes::{
    Avc1Box, AvccBox, DinfBox, DopsBox, FreeBox, FtypBox, HdlrBox, MdhdBox, MdiaBox, MediaHeader,
    MehdBox, MfhdBox, MinfBox, MoofBox, MoovBox, MvexBox, MvhdBox, OpusBox, SampleEntry, SmhdBox,
    StblBox, StcoBox, StscBox, StsdBox, StszBox, SttsBox, TfdtBox, TfhdBox, TkhdBox, TrafBox,
    TrakBox, TrexBox, TrunBox, TrunSample, VmhdBox,
};
use shiguredo_mp4::{
    Either, Encode, FixedPointNumber, LanguageCode, Mp4FileTime, SampleFlags, Uint,
};

use media_core::h264::Sps;

use super::Fmp4Error;

/// The movie timescale (`mvhd`, `mehd`): milliseconds.
pub const MOVIE_TIMESCALE: u32 = 1000;

/// What the init segment says about one track.
#[derive(Debug, Clone)]
pub enum InitTrack {
    /// H.264 with its parameter sets.
    H264 {
        /// Track timescale.
        timescale: u32,
        /// The SPS read from the first SPS NAL unit.
        sps_info: Sps,
        /// SPS NAL unit (without start code).
        sps: Vec<u8>,
        /// PPS NAL unit (without start code).
        pps: Vec<u8>,
    },
    /// Opus (timescale 48000).
    Opus {
        /// Output channel count.
        channels: u8,
        /// Pre-skip in 48 kHz samples.
        pre_skip: u16,
        /// The encoder's input rate (informative).
        input_sample_rate: u32,
    },
}

impl InitTrack {
    /// The track's timescale (48 000 for Opus).
    pub fn timescale(&self) -> u32 {
        match self {
            InitTrack::H264 { timescale, .. } => (*timescale).max(1),
            InitTrack::Opus { .. } => 48_000,
        }
    }
}

fn mux_err(e: shiguredo_mp4::Error) -> Fmp4Error {
    Fmp4Error::Encode(e.to_string())
}

fn nz(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

/// `ftyp` + `moov` for `tracks` (track ids 1..=n), with `mehd.fragment_duration = 0` as a 32-bit field,
/// then a `free` box of [`super::index::reserve_len`] bytes that the final header fills at close.
///
/// Returns the bytes and the offset of the 4-byte `fragment_duration` field, to be patched at close.
pub fn init_segment(
    tracks: &[InitTrack],
    creation: Duration,
) -> Result<(Vec<u8>, usize), Fmp4Error> {
    let t = Mp4FileTime::from_unix_time(creation);
    let mut has_avc = false;
    let mut traks = Vec::new();
    for (i, tr) in tracks.iter().enumerate() {
        let track_id = i as u32 + 1;
        let (entry, timescale, volume, w, h, handler, mh) = match tr {
            InitTrack::H264 {
                timescale,
                sps_info,
                sps,
                pps,
            } => {
                has_avc = true;
                let high = !matches!(sps_info.profile_idc, 66 | 77 | 88);
                let avcc = AvccBox {
                    avc_profile_indication: sps_info.profile_idc,
                    profile_compatibility: sps_info.constraint_flags,
                    avc_level_indication: sps_info.level_idc,
                    length_size_minus_one: Uint::new(3),
                    sps_list: vec![sps.clone()],
                    pps_list: vec![pps.clone()],
                    chroma_format: high.then(|| Uint::new(sps_info.chroma_format_idc)),
                    bit_depth_luma_minus8: high.then(|| Uint::new(sps_info.bit_depth_luma_minus8)),
                    bit_depth_chroma_minus8: high
                        .then(|| Uint::new(sps_info.bit_depth_chroma_minus8)),
                    sps_ext_list: Vec::new(),
                };
                let w = sps_info.width.min(u16::MAX as u32) as u16;
                let h = sps_info.height.min(u16::MAX as u32) as u16;
                let entry = SampleEntry::Avc1(Avc1Box {
                    visual: VisualSampleEntryFields {
                        data_reference_index: VisualSampleEntryFields::DEFAULT_DATA_REFERENCE_INDEX,
                        width: w,
                        height: h,
                        horizresolution: VisualSampleEntryFields::DEFAULT_HORIZRESOLUTION,
                        vertresolution: VisualSampleEntryFields::DEFAULT_VERTRESOLUTION,
                        frame_count: VisualSampleEntryFields::DEFAULT_FRAME_COUNT,
                        compressorname: VisualSampleEntryFields::NULL_COMPRESSORNAME,
                        depth: VisualSampleEntryFields::DEFAULT_DEPTH,
                    },
                    avcc_box: avcc,
                    unknown_boxes: Vec::new(),
                });
                (
                    entry,
                    *timescale,
                    TkhdBox::DEFAULT_VIDEO_VOLUME,
                    FixedPointNumber::new(w.min(i16::MAX as u16) as i16, 0u16),
                    FixedPointNumber::new(h.min(i16::MAX as u16) as i16, 0u16),
                    HdlrBox::HANDLER_TYPE_VIDE,
                    MediaHeader::Vmhd(VmhdBox::default()),
                )
            }
            InitTrack::Opus {
                channels,
                pre_skip,
                input_sample_rate,
            } => {
                let entry = SampleEntry::Opus(OpusBox {
                    audio: AudioSampleEntryFields {
                        data_reference_index: NonZeroU16::MIN,
                        channelcount: u16::from(*channels),
                        samplesize: AudioSampleEntryFields::DEFAULT_SAMPLESIZE,
                        samplerate: FixedPointNumber::new(48000u16, 0),
                    },
                    dops_box: DopsBox {
                        output_channel_count: *channels,
                        pre_skip: *pre_skip,
                        input_sample_rate: *input_sample_rate,
                        output_gain: 0,
                    },
                    unknown_boxes: Vec::new(),
                });
                (
                    entry,
                    48_000,
                    TkhdBox::DEFAULT_AUDIO_VOLUME,
                    FixedPointNumber::default(),
                    FixedPointNumber::default(),
                    HdlrBox::HANDLER_TYPE_SOUN,
                    MediaHeader::Smhd(SmhdBox::default()),
                )
            }
        };
        traks.push(TrakBox {
            tkhd_box: TkhdBox {
                flag_track_enabled: true,
                flag_track_in_movie: true,
                flag_track_in_preview: false,
                flag_track_size_is_aspect_ratio: false,
                creation_time: t,
                modification_time: t,
                track_id,
                duration: 0,
                layer: TkhdBox::DEFAULT_LAYER,
                alternate_group: TkhdBox::DEFAULT_ALTERNATE_GROUP,
                volume,
                matrix: TkhdBox::DEFAULT_MATRIX,
                width: w,
                height: h,
            },
            edts_box: None,
            mdia_box: MdiaBox {
                mdhd_box: MdhdBox {
                    creation_time: t,
                    modification_time: t,
                    timescale: nz(timescale),
                    duration: 0,
                    language: LanguageCode::UNDEFINED,
                },
                hdlr_box: HdlrBox {
                    handler_type: handler,
                    name: b"Verbatim\0".to_vec(),
                },
                minf_box: MinfBox {
                    media_header: Some(mh),
                    dinf_box: DinfBox::LOCAL_FILE,
                    stbl_box: StblBox {
                        stsd_box: StsdBox {
                            entries: vec![entry],
                        },
                        stts_box: SttsBox {
                            entries: Vec::new(),
                        },
                        ctts_box: None,
                        cslg_box: None,
                        stsc_box: StscBox {
                            entries: Vec::new(),
                        },
                        stsz_box: StszBox::Variable {
                            entry_sizes: Vec::new(),
                        },
                        stco_or_co64_box: Either::A(StcoBox {
                            chunk_offsets: Vec::new(),
                        }),
                        stss_box: None,
                        sdtp_box: None,
                        unknown_boxes: Vec::new(),
                    },
                    unknown_boxes: Vec::new(),
                },
                unknown_boxes: Vec::new(),
            },
            unknown_boxes: Vec::new(),
        });
    }
    let mut brands = vec![Brand::ISOM, Brand::ISO5, Brand::ISO6, Brand::MP41];
    if has_avc {
        brands.push(Brand::AVC1);
    }
    let ftyp = FtypBox {
        major_brand: Brand::ISO5,
        minor_version: 0,
        compatible_brands: brands,
    };
    let moov = MoovBox {
        mvhd_box: MvhdBox {
            creation_time: t,
            modification_time: t,
            timescale: nz(MOVIE_TIMESCALE),
            duration: 0,
            rate: MvhdBox::DEFAULT_RATE,
            volume: MvhdBox::DEFAULT_VOLUME,
            matrix: MvhdBox::DEFAULT_MATRIX,
            next_track_id: tracks.len() as u32 + 1,
        },
        trak_boxes: traks,
        mvex_box: Some(MvexBox {
            mehd_box: Some(MehdBox {
                fragment_duration: 0,
            }),
            trex_boxes: (1..=tracks.len() as u32)
                .map(|id| TrexBox {
                    track_id: id,
                    default_sample_description_index: 1,
                    default_sample_duration: 0,
                    default_sample_size: 0,
                    default_sample_flags: SampleFlags::new(0),
                })
                .collect(),
            unknown_boxes: Vec::new(),
        }),
        unknown_boxes: Vec::new(),
    };
    let mut bytes = ftyp.encode_to_vec().map_err(mux_err)?;
    bytes.extend_from_slice(&moov.encode_to_vec().map_err(mux_err)?);
    // Room for the true durations and the seek index written at close (see `index`).
    let free = FreeBox {
        payload: vec![0; super::index::reserve_len(tracks.len()) - 8],
    };
    bytes.extend_from_slice(&free.encode_to_vec().map_err(mux_err)?);
    let mehd = super::reader::find_box(&bytes, &[*b"moov", *b"mvex", *b"mehd"])
        .ok_or_else(|| Fmp4Error::Encode("mehd not found in the init segment".into()))?;
    // mehd: 8-byte header, version/flags (4), then the 32-bit fragment_duration.
    Ok((bytes, mehd.offset as usize + 12))
}

/// One track's part of a fragment.
#[derive(Debug, Clone)]
pub struct TrafPlan {
    /// Track id (1-based).
    pub track_id: u32,
    /// Decode time of the first sample, track timescale.
    pub base_decode_time: u64,
    /// Per sample: duration, size, keyframe.
    pub samples: Vec<(u32, u32, bool)>,
    /// Where this track's payload starts inside the `mdat` payload.
    pub payload_offset: u64,
}

fn sample_flags(keyframe: bool) -> SampleFlags {
    if keyframe {
        SampleFlags::from_fields(0, 2, 0, 0, 0, false, 0)
    } else {
        SampleFlags::from_fields(0, 1, 0, 0, 0, true, 0)
    }
}

fn moof_box(seq: u32, trafs: &[TrafPlan], base: i64) -> Result<MoofBox, Fmp4Error> {
    let mut traf_boxes = Vec::with_capacity(trafs.len());
    for t in trafs {
        let off = i32::try_from(base + t.payload_offset as i64)
            .map_err(|_| Fmp4Error::Encode("fragment larger than 2 GiB".into()))?;
        traf_boxes.push(TrafBox {
            tfhd_box: TfhdBox {
                track_id: t.track_id,
                base_data_offset: None,
                sample_description_index: None,
                default_sample_duration: None,
                default_sample_size: None,
                default_sample_flags: None,
                duration_is_empty: false,
                default_base_is_moof: true,
            },
            tfdt_box: Some(TfdtBox {
                version: 1,
                base_media_decode_time: t.base_decode_time,
            }),
            trun_boxes: vec![TrunBox {
                data_offset: Some(off),
                first_sample_flags: None,
                samples: t
                    .samples
                    .iter()
                    .map(|&(d, s, k)| TrunSample {
                        duration: Some(d),
                        size: Some(s),
                        flags: Some(sample_flags(k)),
                        composition_time_offset: None,
                    })
                    .collect(),
            }],
            unknown_boxes: Vec::new(),
        });
    }
    Ok(MoofBox {
        mfhd_box: MfhdBox {
            sequence_number: seq,
        },
        traf_boxes,
        unknown_boxes: Vec::new(),
    })
}

/// `moof` + `mdat` header for a fragment whose `mdat` payload is `payload_len` bytes.
pub fn fragment_header(
    seq: u32,
    trafs: &[TrafPlan],
    payload_len: u64,
) -> Result<Vec<u8>, Fmp4Error> {
    let probe = moof_box(seq, trafs, 0)?.encode_to_vec().map_err(mux_err)?;
    let mdat_header_len: u64 = if payload_len + 8 > u32::MAX as u64 {
        16
    } else {
        8
    };
    let base = probe.len() as i64 + mdat_header_len as i64;
    let mut out = moof_box(seq, trafs, base)?
        .encode_to_vec()
        .map_err(mux_err)?;
    if mdat_header_len == 8 {
        out.extend_from_slice(&((payload_len + 8) as u32).to_be_bytes());
        out.extend_from_slice(b"mdat");
    } else {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(b"mdat");
        out.extend_from_slice(&(payload_len + 16).to_be_bytes());
    }
    Ok(out)
}
