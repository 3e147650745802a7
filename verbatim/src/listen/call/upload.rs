//! `listen --store`: a call's uploader to the WORM store (the `store` crate), started once its folder
//! exists (reporting to the node's metrics); a full backlog fails the call.

use super::Call;

impl Call {
    /// Starts the folder's uploader when `--store` is set (on a blocking thread: the uploader builds its own
    /// runtime); a store that cannot be used fails the call.
    pub(super) async fn start_upload(&mut self) {
        let Some(cfg) = self.shared.opts.store.clone() else {
            return;
        };
        let dir = self.shared.opts.out.join(&self.folder);
        // The node's metrics hear every confirmed object, the backlog and a failing store.
        let node: std::sync::Arc<dyn store::UploadObserver> = self.shared.metrics.clone();
        let up =
            tokio::task::spawn_blocking(move || store::Uploader::start_observed(&cfg, &dir, node))
                .await;
        match up {
            Ok(Ok(u)) => self.upload = Some(u),
            Ok(Err(e)) => self.store_failure = Some(format!("the store cannot be used: {e}")),
            Err(e) => self.store_failure = Some(format!("the store cannot be used: {e}")),
        }
    }

    /// True once the store failed the call (its backlog outgrew `--store-buffer`, or it could not be
    /// used): the call ends now, `failed`, loudly; the local folder stays whole.
    pub(super) fn store_failed(&mut self) -> bool {
        if self.store_failure.is_none() {
            self.store_failure = self.upload.as_ref().and_then(store::Uploader::failure);
        }
        self.store_failure.is_some()
    }
}
