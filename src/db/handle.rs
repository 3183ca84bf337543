//! The app's database handle: SeaORM's pool, with one mode for a transaction-pooling proxy.
//!
//! PgBouncer in transaction mode (before 1.21) lends a server connection for one transaction and
//! takes it back at the next idle `ReadyForQuery`. sqlx runs every statement as `Parse`/`Describe`/
//! `Sync`, then `Bind`/`Execute`/`Sync`, with a named statement (`sqlx_s_N`, numbered per client
//! connection) even when its cache is off. Outside a transaction the two halves can land on two
//! server connections ("prepared statement does not exist"), and a name left on a server connection
//! collides with another client's ("already exists"). With `DATABASE_STATEMENT_CACHE=off` every
//! statement therefore runs in a transaction of its own, and every transaction starts with
//! `DEALLOCATE ALL`, so it works with PgBouncer's defaults (no `server_reset_query` needed). The
//! price is three more round trips per statement; the default mode adds nothing.

use std::{future::Future, pin::Pin};

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    IsolationLevel, QueryResult, Statement, TransactionError, TransactionOptions, TransactionTrait,
};

#[derive(Clone, Debug)]
pub struct Db {
    pool: DatabaseConnection,
    /// `DATABASE_STATEMENT_CACHE=off` on Postgres: one transaction per statement (see the module).
    pinned: bool,
}

impl Db {
    /// `statement_cache: false` only changes anything on Postgres.
    pub fn new(pool: DatabaseConnection, statement_cache: bool) -> Self {
        let pinned = !statement_cache && pool.get_database_backend() == DbBackend::Postgres;
        Self { pool, pinned }
    }

    /// The pool itself, for what takes SeaORM's own type (the migrator, which runs on a direct
    /// connection) and for closing it.
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// True when every statement runs in a transaction of its own.
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }

    /// Called after every statement (the tests count statements with it).
    pub fn set_metric_callback<F>(&mut self, callback: F)
    where
        F: Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static,
    {
        self.pool.set_metric_callback(callback);
    }

    /// Checks that the database answers (a protocol-level round trip, no statement).
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.pool.ping().await
    }

    async fn single<T, F>(&self, run: F) -> Result<T, DbErr>
    where
        F: for<'t> FnOnce(
                &'t DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, DbErr>> + Send + 't>>
            + Send,
        T: Send,
    {
        let txn = self.begin().await?;
        let result = run(&txn).await;
        match result {
            Ok(value) => {
                txn.commit().await?;
                Ok(value)
            }
            Err(error) => {
                if let Err(rollback) = txn.rollback().await {
                    log::warn!("rolling back a failed statement: {rollback}");
                }
                Err(error)
            }
        }
    }

    async fn prepare(&self, txn: DatabaseTransaction) -> Result<DatabaseTransaction, DbErr> {
        if self.pinned {
            txn.execute_unprepared("DEALLOCATE ALL").await?;
        }
        Ok(txn)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        if !self.pinned {
            return self.pool.execute_raw(stmt).await;
        }
        self.single(|txn| Box::pin(txn.execute_raw(stmt))).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        // The simple-query protocol keeps no statement: nothing to pin.
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if !self.pinned {
            return self.pool.query_one_raw(stmt).await;
        }
        self.single(|txn| Box::pin(txn.query_one_raw(stmt))).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if !self.pinned {
            return self.pool.query_all_raw(stmt).await;
        }
        self.single(|txn| Box::pin(txn.query_all_raw(stmt))).await
    }
}

#[async_trait::async_trait]
impl TransactionTrait for Db {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.prepare(self.pool.begin().await?).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.prepare(self.pool.begin_with_config(isolation_level, access_mode).await?).await
    }

    async fn begin_with_options(&self, options: TransactionOptions) -> Result<DatabaseTransaction, DbErr> {
        self.prepare(self.pool.begin_with_options(options).await?).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.transaction_with_config(callback, None, None).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        match callback(&txn).await {
            Ok(value) => {
                txn.commit().await.map_err(TransactionError::Connection)?;
                Ok(value)
            }
            Err(error) => {
                txn.rollback().await.map_err(TransactionError::Connection)?;
                Err(TransactionError::Transaction(error))
            }
        }
    }
}
