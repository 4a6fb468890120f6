// @generated automatically by Diesel CLI.

pub mod management {
    diesel::table! {
        management.activity_events (id) {
            id -> Int8,
            customer_id -> Uuid,
            event -> Text,
            client_timestamp -> Timestamptz,
            received_at -> Timestamptz,
            user_id -> Text,
        }
    }

    diesel::table! {
        management.billing_events (id) {
            id -> Text,
            event_type -> Text,
            occurred_at -> Timestamptz,
            payload -> Jsonb,
            received_at -> Timestamptz,
            processed_at -> Nullable<Timestamptz>,
            outcome -> Nullable<Text>,
            attempts -> Int4,
        }
    }

    diesel::table! {
        management.checkout_sessions (id) {
            id -> Text,
            customer_id -> Uuid,
            plan_id -> Text,
            paddle_price_id -> Text,
            region -> Text,
            redirect_uri -> Text,
            tenant_name -> Text,
            status -> Text,
            paddle_transaction_id -> Nullable<Text>,
            paddle_subscription_id -> Nullable<Text>,
            paddle_customer_id -> Nullable<Text>,
            tenant_id -> Nullable<Uuid>,
            failure -> Nullable<Text>,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            expires_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.custom_domains (tenant_id) {
            tenant_id -> Uuid,
            domain -> Text,
            dns_target -> Text,
            status -> Text,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            verified_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        management.customers (id) {
            id -> Uuid,
            subject -> Text,
            email -> Text,
            name -> Nullable<Text>,
            status -> Text,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.deployments (id) {
            id -> Uuid,
            seq -> Int8,
            tenant_id -> Uuid,
            image -> Text,
            digest -> Nullable<Text>,
            status -> Text,
            error -> Nullable<Text>,
            requested_at -> Timestamptz,
            started_at -> Nullable<Timestamptz>,
            finished_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        management.job_counts (state, retrying, shard) {
            state -> Text,
            retrying -> Bool,
            shard -> Int2,
            n -> Int8,
        }
    }

    diesel::table! {
        management.jobs (id) {
            id -> Uuid,
            seq -> Int8,
            kind -> Text,
            tenant_id -> Nullable<Uuid>,
            payload -> Jsonb,
            state -> Text,
            attempts -> Int4,
            max_attempts -> Nullable<Int4>,
            run_after -> Timestamptz,
            last_error -> Nullable<Text>,
            lease_owner -> Nullable<Text>,
            lease_expires_at -> Nullable<Timestamptz>,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            fence -> Int8,
        }
    }

    diesel::table! {
        management.login_identities (provider, provider_user_id) {
            provider -> Text,
            provider_user_id -> Text,
            customer_id -> Uuid,
            email -> Text,
            created_at -> Timestamptz,
            last_login_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.login_states (state_hash) {
            state_hash -> Text,
            provider -> Text,
            redirect_uri -> Text,
            pkce_verifier -> Text,
            nonce -> Text,
            created_at -> Timestamptz,
            expires_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.plan_prices (plan_id) {
            plan_id -> Text,
            paddle_price_id -> Text,
            requires_payment -> Bool,
        }
    }

    diesel::table! {
        management.plans (id) {
            id -> Text,
            name -> Text,
            memory_mb -> Int4,
            cpus -> Int4,
            volume_gb -> Int4,
            max_tenants -> Int4,
            volume_mount_path -> Nullable<Text>,
            db_connection_limit -> Int4,
            db_statement_timeout_ms -> Int4,
            db_idle_in_transaction_timeout_ms -> Int4,
        }
    }

    diesel::table! {
        management.reconcile_findings (kind, resource) {
            kind -> Text,
            resource -> Text,
            tenant_id -> Nullable<Uuid>,
            detail -> Text,
            first_seen_at -> Timestamptz,
            last_seen_at -> Timestamptz,
            repaired_at -> Nullable<Timestamptz>,
            times_seen -> Int8,
        }
    }

    diesel::table! {
        management.registry_manifest_pushes (id) {
            id -> Int8,
            tenant_id -> Uuid,
            started_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.registry_pushes (id) {
            id -> Int8,
            tenant_id -> Uuid,
            reference -> Text,
            digest -> Text,
            media_type -> Nullable<Text>,
            pushed_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.registry_tenant_digests (tenant_id, digest) {
            tenant_id -> Uuid,
            digest -> Text,
            first_seen_at -> Timestamptz,
            size -> Nullable<Int8>,
        }
    }

    diesel::table! {
        management.registry_uploads (id) {
            id -> Uuid,
            tenant_id -> Uuid,
            upload_id -> Nullable<Text>,
            bytes -> Int8,
            started_at -> Timestamptz,
            last_active_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.revoked_subjects (subject) {
            subject -> Text,
            revoked_before -> Timestamptz,
        }
    }

    diesel::table! {
        management.revoked_tokens (jti) {
            jti -> Text,
            expires_at -> Timestamptz,
            revoked_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.subscriptions (id) {
            id -> Text,
            tenant_id -> Uuid,
            customer_id -> Uuid,
            paddle_customer_id -> Nullable<Text>,
            status -> Text,
            scheduled_cancel_at -> Nullable<Timestamptz>,
            canceled_at -> Nullable<Timestamptz>,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            plan_id -> Nullable<Text>,
            last_event_at -> Nullable<Timestamptz>,
            status_since -> Timestamptz,
            machine_stopped_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        management.tenant_credentials (tenant_id, name) {
            tenant_id -> Uuid,
            name -> Text,
            key_id -> Text,
            nonce -> Bytea,
            ciphertext -> Bytea,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.tenant_events (id) {
            id -> Int8,
            tenant_id -> Uuid,
            event_type -> Text,
            status -> Text,
            message -> Nullable<Text>,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        management.tenants (id) {
            id -> Uuid,
            customer_id -> Uuid,
            name -> Text,
            plan_id -> Text,
            region -> Text,
            state -> Text,
            status_message -> Nullable<Text>,
            fly_app_name -> Text,
            machine_id -> Nullable<Text>,
            volume_id -> Nullable<Text>,
            hostname -> Text,
            internal_hostname -> Text,
            database_name -> Text,
            database_role -> Text,
            deployed_digest -> Nullable<Text>,
            row_version -> Int8,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            deleted_at -> Nullable<Timestamptz>,
            external_db_access -> Bool,
            secrets_version -> Nullable<Int8>,
        }
    }

    diesel::joinable!(activity_events -> customers (customer_id));
    diesel::joinable!(checkout_sessions -> customers (customer_id));
    diesel::joinable!(checkout_sessions -> plans (plan_id));
    diesel::joinable!(checkout_sessions -> tenants (tenant_id));
    diesel::joinable!(custom_domains -> tenants (tenant_id));
    diesel::joinable!(deployments -> tenants (tenant_id));
    diesel::joinable!(jobs -> tenants (tenant_id));
    diesel::joinable!(login_identities -> customers (customer_id));
    diesel::joinable!(plan_prices -> plans (plan_id));
    diesel::joinable!(reconcile_findings -> tenants (tenant_id));
    diesel::joinable!(registry_manifest_pushes -> tenants (tenant_id));
    diesel::joinable!(registry_pushes -> tenants (tenant_id));
    diesel::joinable!(registry_tenant_digests -> tenants (tenant_id));
    diesel::joinable!(registry_uploads -> tenants (tenant_id));
    diesel::joinable!(subscriptions -> customers (customer_id));
    diesel::joinable!(subscriptions -> plans (plan_id));
    diesel::joinable!(subscriptions -> tenants (tenant_id));
    diesel::joinable!(tenant_credentials -> tenants (tenant_id));
    diesel::joinable!(tenant_events -> tenants (tenant_id));
    diesel::joinable!(tenants -> customers (customer_id));
    diesel::joinable!(tenants -> plans (plan_id));

    diesel::allow_tables_to_appear_in_same_query!(
        activity_events,
        billing_events,
        checkout_sessions,
        custom_domains,
        customers,
        deployments,
        job_counts,
        jobs,
        login_identities,
        login_states,
        plan_prices,
        plans,
        reconcile_findings,
        registry_manifest_pushes,
        registry_pushes,
        registry_tenant_digests,
        registry_uploads,
        revoked_subjects,
        revoked_tokens,
        subscriptions,
        tenant_credentials,
        tenant_events,
        tenants,
    );
}
