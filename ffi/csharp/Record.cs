// record.exe: ffi/examples/record.c in C#. Records the WAV files named on its command line into a folder through
// Verbatim's C ABI, the way a Teams bot's AudioMediaReceived handler would: one audio event every 20 ms carrying
// an unmixed buffer (unmanaged memory, as the SDK's) for each participant who is not silent (at most four), after
// a roster event naming everyone.
//
//   usage: mono record.exe OUTDIR NAME=FILE.wav ...     (16 kHz, mono, 16-bit PCM WAV; at most 4 files)
//
// Build: ffi/csharp/build.sh OUTDIR. The stems it writes are identical, sample for sample, to
// `verbatim record --source NAME=FILE.wav ...`.
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Verbatim;

namespace VerbatimRecord
{
    /// <summary>Stand-in for the SDK's <c>UnmixedAudioBuffer</c>.</summary>
    sealed class UnmixedAudioBuffer
    {
        public uint ActiveSpeakerId;
        public IntPtr Data;
        public long Length;
        public long OriginalSenderTimestamp;
    }

    /// <summary>Stand-in for the SDK's <c>AudioMediaBuffer</c>: owns unmanaged memory, freed by Dispose.</summary>
    sealed class AudioMediaBuffer : IDisposable
    {
        public long Timestamp;
        public bool IsSilence;
        public UnmixedAudioBuffer[] UnmixedAudioBuffers;

        public void Dispose()
        {
            if (UnmixedAudioBuffers == null) return;
            foreach (UnmixedAudioBuffer b in UnmixedAudioBuffers)
            {
                if (b.Data != IntPtr.Zero) Marshal.FreeHGlobal(b.Data);
                b.Data = IntPtr.Zero;
            }
            UnmixedAudioBuffers = null;
        }
    }

    sealed class Input
    {
        public string Name;
        public short[] Pcm;
    }

    static class Program
    {
        const int FRAME = 320;                      // samples per 20 ms at 16 kHz
        const ulong TICKS_PER_FRAME = 200000;       // 20 ms in the SDK's 100 ns ticks
        const ulong BASE = 1000000000;              // the platform clock at the call's start (any value)
        const ulong SENDER_BASE = 5000000000;       // each sender's own capture clock (any value; offset per sender)

        static Call call;

        static uint Le32(byte[] b, long p) { return b[p] | (uint)b[p + 1] << 8 | (uint)b[p + 2] << 16 | (uint)b[p + 3] << 24; }
        static ushort Le16(byte[] b, long p) { return (ushort)(b[p] | b[p + 1] << 8); }
        static bool Tag(byte[] b, long p, string tag)
        {
            for (int i = 0; i < 4; i++) if (b[p + i] != tag[i]) return false;
            return true;
        }

        /// <summary>Reads a 16 kHz mono 16-bit PCM WAV (RIFF chunks, as record.c); null after printing why.</summary>
        static short[] ReadWav(string path)
        {
            byte[] f;
            try { f = File.ReadAllBytes(path); }
            catch (Exception e) { Console.Error.WriteLine(path + ": " + e.Message); return null; }
            if (f.Length < 12 || !Tag(f, 0, "RIFF") || !Tag(f, 8, "WAVE"))
            {
                Console.Error.WriteLine(path + ": not a RIFF/WAVE file");
                return null;
            }
            short[] pcm = null;
            bool fmtOk = false;
            long pos = 12;
            while (pos + 8 <= f.Length)
            {
                uint size = Le32(f, pos + 4);
                bool fmt = Tag(f, pos, "fmt "), data = Tag(f, pos, "data");
                pos += 8;
                if (fmt)
                {
                    if (size < 16 || pos + 16 > f.Length) break;
                    fmtOk = Le16(f, pos) == 1 && Le16(f, pos + 2) == 1 && Le32(f, pos + 4) == 16000 && Le16(f, pos + 14) == 16;
                    pos += size + (size & 1);
                }
                else if (data)
                {
                    if (!fmtOk) break;
                    long samples = size / 2;
                    if (pos + samples * 2 > f.Length) break;
                    pcm = new short[samples];
                    Buffer.BlockCopy(f, (int)pos, pcm, 0, (int)(samples * 2)); // little-endian host, as record.c
                    break;
                }
                else
                {
                    pos += size + (size & 1);
                }
            }
            if (pcm == null) Console.Error.WriteLine(path + ": expected a 16 kHz mono 16-bit PCM WAV");
            return pcm;
        }

        /// <summary>
        /// The bot's AudioMediaReceived handler: forwards the SDK's buffer as it is (the library copies it, so the
        /// SDK's buffer can be disposed right after). A real handler never waits; the replay loop does that.
        /// </summary>
        static void OnAudioMediaReceived(AudioMediaBuffer buffer)
        {
            UnmixedAudioBuffer[] sdk = buffer.UnmixedAudioBuffers;
            UnmixedBuffer[] unmixed = new UnmixedBuffer[sdk == null ? 0 : sdk.Length];
            for (int k = 0; k < unmixed.Length; k++)
            {
                unmixed[k].ActiveSpeakerId = sdk[k].ActiveSpeakerId;
                unmixed[k].Data = sdk[k].Data;
                unmixed[k].Length = sdk[k].Length;
                unmixed[k].OriginalSenderTimestamp = (ulong)sdk[k].OriginalSenderTimestamp;
            }
            call.PushAudio((ulong)buffer.Timestamp, buffer.IsSilence, unmixed);
        }

        /// <summary>%.2f of <paramref name="x"/> exactly as glibc's printf (exact value, ties to even).</summary>
        static string Fixed2(double x)
        {
            string sign = x < 0 ? "-" : "";
            x = Math.Abs(x);
            long bits = BitConverter.DoubleToInt64Bits(x);
            int exp = (int)((bits >> 52) & 0x7FF);
            ulong m = (ulong)(bits & 0xFFFFFFFFFFFFFL);
            if (exp == 0) exp = 1; else m |= 1UL << 52;
            int k = 1075 - exp; // x = m / 2^k
            ulong hundredths;
            if (k <= 0)
            {
                hundredths = (ulong)(x * 100); // an integer: exact while it fits (durations always do)
            }
            else if (k >= 64)
            {
                hundredths = 0; // x * 100 < 2^60 / 2^64: below one half
            }
            else
            {
                ulong num = m * 100; // < 2^60
                ulong q = num >> k, rem = num & ((1UL << k) - 1), half = 1UL << (k - 1);
                if (rem > half || (rem == half && (q & 1) == 1)) q++;
                hundredths = q;
            }
            return sign + (hundredths / 100) + "." + (hundredths % 100).ToString("00");
        }

        /// <summary>Answers the engine: report `recording` (here: Graph always accepts), print the rest.</summary>
        static void Drain()
        {
            Message m;
            while ((m = call.Poll()) != null)
            {
                if (m.Kind == Native.VB_MESSAGE_STATUS_REQUEST && m.Status == Native.VB_STATUS_RECORDING)
                {
                    call.Confirm(true, null);
                }
                else if (m.Kind == Native.VB_MESSAGE_ERROR)
                {
                    Console.Error.WriteLine("engine: error " + m.Code + ": " + (m.Text ?? ""));
                }
                else if (m.Kind == Native.VB_MESSAGE_SUMMARY)
                {
                    Console.WriteLine("recorded " + m.Participants + " participants, " + Fixed2(m.DurationUs / 1e6) + " s into "
                        + (m.Folder ?? "-") + " (" + (m.Status == Native.VB_SUMMARY_COMPLETED ? "completed" : "failed") + ")");
                }
            }
        }

        static int Main(string[] args)
        {
            if (args.Length < 2 || args.Length - 1 > 4)
            {
                Console.Error.WriteLine("usage: record.exe OUTDIR NAME=FILE.wav ...   (1 to 4 files: 16 kHz mono 16-bit PCM)");
                return 2;
            }
            try
            {
                Native.CheckLayout();
                if (Native.vb_abi_version() != Native.VB_ABI_VERSION)
                {
                    Console.Error.WriteLine("libverbatim_ffi has ABI " + Native.vb_abi_version() + ", this program was built for "
                        + Native.VB_ABI_VERSION);
                    return 1;
                }
                return Run(args);
            }
            catch (VerbatimException e)
            {
                Console.Error.WriteLine(e.Message);
                return 1;
            }
        }

        static int Run(string[] args)
        {
            int n = args.Length - 1;
            Input[] inputs = new Input[n];
            long frames = 0;
            for (int i = 0; i < n; i++)
            {
                string arg = args[i + 1];
                int eq = arg.IndexOf('=');
                if (eq <= 0 || Encoding.UTF8.GetByteCount(arg.Substring(0, eq)) >= 128)
                {
                    Console.Error.WriteLine(arg + ": expected NAME=FILE.wav");
                    return 2;
                }
                short[] pcm = ReadWav(arg.Substring(eq + 1));
                if (pcm == null) return 1;
                inputs[i] = new Input { Name = arg.Substring(0, eq), Pcm = pcm };
                long f = (pcm.LongLength + FRAME - 1) / FRAME;
                if (f > frames) frames = f;
            }

            List<KeyValuePair<string, string>> options = new List<KeyValuePair<string, string>>();
            options.Add(new KeyValuePair<string, string>("out_dir", args[0]));
            options.Add(new KeyValuePair<string, string>("call_id", "csharp-example"));
            string key = Environment.GetEnvironmentVariable("VERBATIM_SIGNING_KEY");
            if (key != null) options.Add(new KeyValuePair<string, string>("signing_key", key));
            using (call = Call.Start(options))
            {
                Drain(); // the status request: confirmed before any media (nothing is held)

                for (int i = 0; i < n; i++)
                {
                    VbMediaStream[] s = { new VbMediaStream { MediaSourceId = (uint)(i + 1), Kind = Native.VB_STREAM_AUDIO } };
                    call.ParticipantJoined(BASE, inputs[i].Name, inputs[i].Name, false, s);
                }
                // The first audio event is the recording's time zero; a frame captured in [t, t + 20 ms) is delivered in
                // the event stamped t + 20 ms, as the SDK does.
                using (AudioMediaBuffer first = new AudioMediaBuffer { Timestamp = (long)BASE, IsSilence = true })
                    OnAudioMediaReceived(first);
                short[] frame = new short[FRAME];
                for (long j = 0; j < frames; j++)
                {
                    List<UnmixedAudioBuffer> unmixed = new List<UnmixedAudioBuffer>();
                    for (int i = 0; i < n; i++)
                    {
                        long from = j * FRAME;
                        bool nonzero = false;
                        short[] pcm = inputs[i].Pcm;
                        for (int k = 0; k < FRAME; k++)
                        {
                            short v = from + k < pcm.LongLength ? pcm[from + k] : (short)0;
                            frame[k] = v;
                            nonzero |= v != 0;
                        }
                        if (!nonzero) continue; // the SDK sends no buffer for a silent participant
                        IntPtr data = Marshal.AllocHGlobal(FRAME * 2);
                        Marshal.Copy(frame, 0, data, FRAME);
                        unmixed.Add(new UnmixedAudioBuffer
                        {
                            ActiveSpeakerId = (uint)(i + 1),
                            Data = data,
                            Length = FRAME * 2,
                            // The sender's capture clock (OriginalSenderTimestamp): places the frame exactly, silences included.
                            OriginalSenderTimestamp = (long)(SENDER_BASE + (ulong)i * 10000000UL + (ulong)j * TICKS_PER_FRAME),
                        });
                    }
                    using (AudioMediaBuffer buffer = new AudioMediaBuffer
                    {
                        Timestamp = (long)(BASE + (ulong)(j + 1) * TICKS_PER_FRAME),
                        IsSilence = unmixed.Count == 0,
                        UnmixedAudioBuffers = unmixed.Count == 0 ? null : unmixed.ToArray(),
                    })
                    {
                        call.WaitForRoom(); // a replay faster than real time: wait, never drop
                        OnAudioMediaReceived(buffer);
                    }
                    Drain();
                }
                call.End(BASE + (ulong)frames * TICKS_PER_FRAME);
                VerbatimException failed = null;
                try { call.Wait(); }
                catch (VerbatimException e) { failed = e; }
                Drain();
                if (failed != null) throw failed;
            }
            return 0;
        }
    }
}
