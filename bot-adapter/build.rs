//! Generates the gRPC ingest messages and service (feature `grpc`) from `proto/verbatim/ingest/v1/*.proto`
//! with a pure-Rust protobuf compiler (`protox`): no system `protoc` needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    #[cfg(feature = "grpc")]
    {
        let fds = protox::compile(["verbatim/ingest/v1/ingest.proto"], ["proto"])?;
        tonic_prost_build::configure().bytes(".").compile_fds(fds)?;
    }
    Ok(())
}
