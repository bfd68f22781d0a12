//! Per-vector registries for the crate's serdes and rule executors.
//!
//! [`VectorRegistry`] is a Schema Registry holding one vector's schemas
//! under the vector's ids: the crate's `MockSchemaRegistryClient` gives
//! every schema id 1, so vectors with references could not be loaded into
//! it. [`VectorDeks`] is the crate's `MockDekRegistryClient`, which the
//! encryption executors create themselves from the serde's client config:
//! `VectorDeks::new` finds the one loaded for the vector by its `mock://`
//! URL, and answers version -1 with the latest version, as the DEK
//! Registry's REST API does.

use reqwest::StatusCode;
use schema_registry_client::rest::apis::error_message::ErrorMessage;
use schema_registry_client::rest::apis::{Error, ResponseContent};
use schema_registry_client::rest::client_config::ClientConfig;
use schema_registry_client::rest::dek_registry_client::Client as DekClient;
use schema_registry_client::rest::mock_dek_registry_client::MockDekRegistryClient;
use schema_registry_client::rest::models::dek::Algorithm;
use schema_registry_client::rest::models::{
    Association, AssociationCreateOrUpdateRequest, AssociationResponse, CreateDekRequest,
    CreateKekRequest, Dek, Kek, RegisteredSchema, Schema, ServerConfig,
};
use schema_registry_client::rest::schema_registry_client::Client as SrClient;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

const SCHEMA_NOT_FOUND: i32 = 40403;

fn not_found(code: i32, message: &str) -> Error {
    Error::ResponseError(ResponseContent {
        status: StatusCode::NOT_FOUND,
        content: message.to_string(),
        entity: Some(ErrorMessage {
            error_code: Some(code),
            message: Some(message.to_string()),
        }),
    })
}

fn unsupported(what: &str) -> Error {
    Error::ResponseError(ResponseContent {
        status: StatusCode::NOT_IMPLEMENTED,
        content: format!("{what}: not supported by the vector registry"),
        entity: None,
    })
}

/// Whether a 404 came from a schema lookup (not a subject or version one).
pub fn schema_not_found(r: &ResponseContent) -> bool {
    r.entity.as_ref().and_then(|e| e.error_code) == Some(SCHEMA_NOT_FOUND)
}

/// An in-memory Schema Registry loaded with one vector's schemas.
#[derive(Clone)]
pub struct VectorRegistry {
    schemas: Arc<Mutex<Vec<RegisteredSchema>>>,
    config: ClientConfig,
}

impl VectorRegistry {
    /// Adds a schema as the vector lists it (subject, version, id).
    pub fn add(&self, rs: RegisteredSchema) {
        self.schemas.lock().unwrap().push(rs);
    }

    fn find(&self, f: impl Fn(&RegisteredSchema) -> bool) -> Option<RegisteredSchema> {
        self.schemas
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|rs| f(rs))
            .cloned()
    }
}

impl SrClient for VectorRegistry {
    fn new(config: ClientConfig) -> Self {
        VectorRegistry {
            schemas: Arc::new(Mutex::new(Vec::new())),
            config,
        }
    }

    fn config(&self) -> &ClientConfig {
        &self.config
    }

    async fn register_schema(
        &self,
        _subject: &str,
        _schema: &Schema,
        _normalize: bool,
    ) -> Result<RegisteredSchema, Error> {
        Err(unsupported("register_schema"))
    }

    async fn get_by_subject_and_id(
        &self,
        _subject: Option<&str>,
        id: i32,
        _format: Option<&str>,
    ) -> Result<Schema, Error> {
        self.find(|rs| rs.id == Some(id))
            .map(|rs| rs.to_schema())
            .ok_or_else(|| not_found(SCHEMA_NOT_FOUND, "schema not found"))
    }

    async fn get_by_guid(&self, guid: &str, _format: Option<&str>) -> Result<Schema, Error> {
        self.find(|rs| rs.guid.as_deref() == Some(guid))
            .map(|rs| rs.to_schema())
            .ok_or_else(|| not_found(SCHEMA_NOT_FOUND, "schema not found"))
    }

    async fn get_by_schema(
        &self,
        subject: &str,
        schema: &Schema,
        _normalize: bool,
        _deleted: bool,
    ) -> Result<RegisteredSchema, Error> {
        self.find(|rs| {
            rs.subject.as_deref() == Some(subject)
                && rs.schema.as_deref() == Some(schema.schema.as_str())
        })
        .ok_or_else(|| not_found(40403, "schema not found"))
    }

    async fn get_version(
        &self,
        subject: &str,
        version: i32,
        _deleted: bool,
        _format: Option<&str>,
    ) -> Result<RegisteredSchema, Error> {
        if version == -1 {
            return self.get_latest_version(subject, None).await;
        }
        self.find(|rs| rs.subject.as_deref() == Some(subject) && rs.version == Some(version))
            .ok_or_else(|| not_found(40402, "version not found"))
    }

    async fn get_latest_version(
        &self,
        subject: &str,
        _format: Option<&str>,
    ) -> Result<RegisteredSchema, Error> {
        let schemas = self.schemas.lock().unwrap();
        schemas
            .iter()
            .filter(|rs| rs.subject.as_deref() == Some(subject))
            .max_by_key(|rs| rs.version)
            .cloned()
            .ok_or_else(|| not_found(40401, "subject not found"))
    }

    async fn get_latest_with_metadata(
        &self,
        _subject: &str,
        _metadata: &HashMap<String, String>,
        _deleted: bool,
        _format: Option<&str>,
    ) -> Result<RegisteredSchema, Error> {
        Err(unsupported("get_latest_with_metadata"))
    }

    async fn get_all_versions(&self, subject: &str) -> Result<Vec<i32>, Error> {
        let schemas = self.schemas.lock().unwrap();
        Ok(schemas
            .iter()
            .filter(|rs| rs.subject.as_deref() == Some(subject))
            .filter_map(|rs| rs.version)
            .collect())
    }

    async fn get_all_subjects(&self, _deleted: bool) -> Result<Vec<String>, Error> {
        let schemas = self.schemas.lock().unwrap();
        let mut subjects: Vec<String> =
            schemas.iter().filter_map(|rs| rs.subject.clone()).collect();
        subjects.dedup();
        Ok(subjects)
    }

    async fn delete_subject(&self, _subject: &str, _permanent: bool) -> Result<Vec<i32>, Error> {
        Err(unsupported("delete_subject"))
    }

    async fn delete_subject_version(
        &self,
        _subject: &str,
        _version: i32,
        _permanent: bool,
    ) -> Result<i32, Error> {
        Err(unsupported("delete_subject_version"))
    }

    async fn test_subject_compatibility(
        &self,
        _subject: &str,
        _schema: &Schema,
    ) -> Result<bool, Error> {
        Err(unsupported("test_subject_compatibility"))
    }

    async fn test_compatibility(
        &self,
        _subject: &str,
        _version: i32,
        _schema: &Schema,
    ) -> Result<bool, Error> {
        Err(unsupported("test_compatibility"))
    }

    async fn get_config(&self, _subject: &str) -> Result<ServerConfig, Error> {
        Err(unsupported("get_config"))
    }

    async fn update_config(
        &self,
        _subject: &str,
        _config: &ServerConfig,
    ) -> Result<ServerConfig, Error> {
        Err(unsupported("update_config"))
    }

    async fn get_default_config(&self) -> Result<ServerConfig, Error> {
        Err(unsupported("get_default_config"))
    }

    async fn update_default_config(&self, _config: &ServerConfig) -> Result<ServerConfig, Error> {
        Err(unsupported("update_default_config"))
    }

    async fn get_associations_by_resource_name(
        &self,
        _resource_name: &str,
        _resource_namespace: &str,
        _resource_type: &str,
        _association_types: &[&str],
        _lifecycle: &str,
        _offset: i32,
        _limit: i32,
    ) -> Result<Vec<Association>, Error> {
        Ok(Vec::new())
    }

    async fn create_association(
        &self,
        _request: &AssociationCreateOrUpdateRequest,
    ) -> Result<AssociationResponse, Error> {
        Err(unsupported("create_association"))
    }

    async fn delete_associations(
        &self,
        _resource_id: &str,
        _resource_type: Option<&str>,
        _association_types: Option<&[&str]>,
        _cascade_lifecycle: bool,
    ) -> Result<(), Error> {
        Err(unsupported("delete_associations"))
    }

    fn clear_latest_caches(&self) {}

    fn clear_caches(&self) {}

    fn close(&mut self) {}
}

/// The DEK Registry loaded for the vector being answered, by `mock://` URL.
static DEK_REGISTRIES: LazyLock<Mutex<HashMap<String, MockDekRegistryClient>>> =
    LazyLock::new(Default::default);

/// Makes `deks` the DEK Registry that executors configured with `url`
/// find; the previous vector's is dropped.
pub fn publish_deks(url: &str, deks: VectorDeks) {
    let mut m = DEK_REGISTRIES.lock().unwrap();
    m.clear();
    m.insert(url.to_string(), deks.0);
}

/// The crate's mock DEK Registry, shared by URL with the executors.
#[derive(Clone)]
pub struct VectorDeks(MockDekRegistryClient);

impl VectorDeks {
    /// An empty DEK Registry, to load a vector's KEKs and DEKs into.
    pub fn fresh(config: ClientConfig) -> VectorDeks {
        VectorDeks(MockDekRegistryClient::new(config))
    }
}

impl VectorDeks {
    /// Version -1 is the latest version, as in the REST API's
    /// ".../versions/-1" (the mock has no such lookup).
    async fn resolve(
        &self,
        kek_name: &str,
        subject: &str,
        algorithm: Option<Algorithm>,
        version: Option<i32>,
        deleted: bool,
    ) -> Option<i32> {
        if version != Some(-1) {
            return version;
        }
        let mut latest = -1;
        while self
            .0
            .get_dek(
                kek_name,
                subject,
                algorithm,
                Some(latest.max(0) + 1),
                deleted,
            )
            .await
            .is_ok()
        {
            latest = latest.max(0) + 1;
        }
        Some(latest)
    }
}

impl DekClient for VectorDeks {
    fn new(config: ClientConfig) -> Self {
        let url = config.base_urls.first().cloned().unwrap_or_default();
        match DEK_REGISTRIES.lock().unwrap().get(&url) {
            Some(c) => VectorDeks(c.clone()),
            None => VectorDeks(MockDekRegistryClient::new(config)),
        }
    }

    fn config(&self) -> &ClientConfig {
        self.0.config()
    }

    async fn register_kek(&self, request: CreateKekRequest) -> Result<Kek, Error> {
        self.0.register_kek(request).await
    }

    async fn register_dek(&self, kek_name: &str, request: CreateDekRequest) -> Result<Dek, Error> {
        self.0.register_dek(kek_name, request).await
    }

    async fn get_kek(&self, name: &str, deleted: bool) -> Result<Kek, Error> {
        self.0.get_kek(name, deleted).await
    }

    async fn get_dek(
        &self,
        kek_name: &str,
        subject: &str,
        algorithm: Option<Algorithm>,
        version: Option<i32>,
        deleted: bool,
    ) -> Result<Dek, Error> {
        let version = self
            .resolve(kek_name, subject, algorithm, version, deleted)
            .await;
        self.0
            .get_dek(kek_name, subject, algorithm, version, deleted)
            .await
    }

    async fn set_dek_key_material(
        &self,
        kek_name: &str,
        subject: &str,
        algorithm: Option<Algorithm>,
        version: Option<i32>,
        deleted: bool,
        key_material_bytes: &[u8],
    ) -> Result<Dek, Error> {
        let version = self
            .resolve(kek_name, subject, algorithm, version, deleted)
            .await;
        self.0
            .set_dek_key_material(
                kek_name,
                subject,
                algorithm,
                version,
                deleted,
                key_material_bytes,
            )
            .await
    }

    fn clear_caches(&self) {
        self.0.clear_caches()
    }

    fn close(&mut self) {}
}
