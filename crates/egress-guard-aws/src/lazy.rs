//! An SDK client made on its first use: a client an invocation does not need (Security Hub, EventBridge, S3,
//! CloudWatch Logs, the flow logs' EC2, SQS, Organizations, STS, DynamoDB) costs nothing at the function's init.

use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;

/// A client made from `config` by `make` the first time it is asked for, then shared by every clone.
#[derive(Clone)]
pub(crate) struct OnFirstUse<C> {
    client: Arc<OnceLock<C>>,
    config: SdkConfig,
    make: fn(&SdkConfig) -> C,
}

impl<C> OnFirstUse<C> {
    pub(crate) fn new(config: &SdkConfig, make: fn(&SdkConfig) -> C) -> Self {
        OnFirstUse { client: Arc::new(OnceLock::new()), config: config.clone(), make }
    }

    /// A client already made (a test's mock client); its `make` is never called, since the cell is set.
    pub(crate) fn ready(client: C) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(client);
        OnFirstUse { client: Arc::new(cell), config: SdkConfig::builder().build(), make: |_| panic!("made already") }
    }

    pub(crate) fn get(&self) -> &C {
        self.client.get_or_init(|| (self.make)(&self.config))
    }
}

impl<C> std::fmt::Debug for OnFirstUse<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnFirstUse").field("made", &self.client.get().is_some()).finish()
    }
}
