//! Stable names of every operation the mock serves; faults, rate limits and the request log use them.

use serde::Serialize;

macro_rules! ops {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// One operation of the Machines API, the registry, or the inspection endpoints.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(into = "&'static str")]
        #[non_exhaustive]
        pub enum Op { $($variant),* }

        impl Op {
            /// Every operation, for validating fault selectors.
            pub const ALL: &'static [Op] = &[$(Op::$variant),*];

            /// The stable snake_case name (`"create_app"`, `"registry_manifest_put"`, ...).
            pub fn as_str(self) -> &'static str {
                match self { $(Op::$variant => $name),* }
            }
        }
    };
}

ops! {
    ListApps => "list_apps",
    CreateApp => "create_app",
    GetApp => "get_app",
    DeleteApp => "delete_app",
    ListSecrets => "list_secrets",
    GetSecret => "get_secret",
    SetSecrets => "set_secrets",
    UnsetSecrets => "unset_secrets",
    CreateVolume => "create_volume",
    ListVolumes => "list_volumes",
    GetVolume => "get_volume",
    DeleteVolume => "delete_volume",
    AssignIp => "assign_ip",
    ListIps => "list_ips",
    DeleteIp => "delete_ip",
    CreateCertificate => "create_certificate",
    ListCertificates => "list_certificates",
    GetCertificate => "get_certificate",
    DeleteCertificate => "delete_certificate",
    CreateMachine => "create_machine",
    GetMachine => "get_machine",
    ListMachines => "list_machines",
    UpdateMachine => "update_machine",
    StartMachine => "start_machine",
    StopMachine => "stop_machine",
    RestartMachine => "restart_machine",
    DeleteMachine => "delete_machine",
    WaitMachine => "wait_machine",
    GetMetadata => "get_metadata",
    AcquireLease => "acquire_lease",
    GetLease => "get_lease",
    ReleaseLease => "release_lease",
    RegistryBase => "registry_base",
    RegistryBlobHead => "registry_blob_head",
    RegistryBlobGet => "registry_blob_get",
    RegistryBlobDelete => "registry_blob_delete",
    RegistryUploadStart => "registry_upload_start",
    RegistryUploadPatch => "registry_upload_patch",
    RegistryUploadPut => "registry_upload_put",
    RegistryUploadStatus => "registry_upload_status",
    RegistryUploadCancel => "registry_upload_cancel",
    RegistryManifestGet => "registry_manifest_get",
    RegistryManifestHead => "registry_manifest_head",
    RegistryManifestPut => "registry_manifest_put",
    RegistryManifestDelete => "registry_manifest_delete",
    RegistryTagsList => "registry_tags_list",
    MockState => "mock_state",
    MockRequests => "mock_requests",
    MockIssueCertificate => "mock_issue_certificate",
    MockImageBehaviour => "mock_image_behaviour",
    MockFaultsList => "mock_faults_list",
    MockFaultsSet => "mock_faults_set",
    MockFaultsClear => "mock_faults_clear",
}

impl Op {
    /// Registry operations answer in the registry's error format and use Basic auth.
    pub fn is_registry(self) -> bool {
        self.as_str().starts_with("registry_")
    }

    /// Inspection endpoints (`/__mock/...`) bypass auth, faults and rate limits.
    pub fn is_inspection(self) -> bool {
        self.as_str().starts_with("mock_")
    }
}

impl From<Op> for &'static str {
    fn from(op: Op) -> Self {
        op.as_str()
    }
}

impl AsRef<str> for Op {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
