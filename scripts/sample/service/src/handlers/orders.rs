//! Order handlers of the sample shop service (used by aimon's demo as the source a diagnosis reads).

use axum::{extract::{Path, State}, Json};
use serde::Serialize;
use tracing::{error, info, instrument};

use crate::db::Pool;
use crate::error::AppError;

#[derive(Serialize)]
pub struct OrderView {
    pub id: i64,
    pub customer: String,
    pub total_cents: i64,
    pub coupon: Option<String>,
}

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
}

#[instrument(skip(state))]
pub async fn list_orders(State(state): State<AppState>) -> Result<Json<Vec<OrderView>>, AppError> {
    let mut conn = state.pool.acquire().await.map_err(|e| {
        error!(error_code = "DB_POOL_TIMEOUT", "timed out waiting for a connection from the pool after {}ms", e.waited_ms());
        AppError::Unavailable
    })?;
    let rows = conn.fetch_orders(50).await?;
    info!(count = rows.len(), "listed orders");
    Ok(Json(rows.into_iter().map(OrderView::from).collect()))
}

fn discount_for(code: &str) -> Option<i64> {
    match code {
        "WELCOME10" => Some(10),
        "SPRING25" => Some(25),
        _ => None,
    }
}

fn apply_coupon(total_cents: i64, coupon: Option<&str>) -> i64 {
    match coupon {
        Some(code) => {
            let percent = discount_for(code).unwrap_or(0);
            total_cents - total_cents * percent / 100
        }
        None => total_cents,
    }
}

#[derive(serde::Deserialize)]
pub struct CheckoutRequest {
    pub cart_id: i64,
    pub coupon: Option<String>,
}

#[instrument(skip(state, body), fields(cart_id = body.cart_id))]
pub async fn get_order(
    State(state): State<AppState>,
    Path(order_id): Path<i64>,
) -> Result<Json<OrderView>, AppError> {
    let mut conn = state.pool.acquire().await?;
    let order = conn.find_order(order_id).await?;
    Ok(Json(OrderView::from(order)))
}

#[instrument(skip(state, body))]
pub async fn checkout(
    State(state): State<AppState>,
    Json(body): Json<CheckoutRequest>,
) -> Result<Json<OrderView>, AppError> {
    let mut conn = state.pool.acquire().await?;
    let cart = conn.load_cart(body.cart_id).await?;
    info!(items = cart.items.len(), "checking out cart");

    let total: i64 = cart.items.iter().map(|item| item.price_cents * item.quantity).sum();
    let total = apply_coupon(total, body.coupon.as_deref());

    let customer = conn.find_customer(cart.customer_id).await?;
    let shipping = customer.default_address;
    // A customer without a default address cannot check out; this should be a 422, not a panic.
    let address = shipping.unwrap();

    let order = conn.create_order(cart.customer_id, &address, total).await?;
    info!(order_id = order.id, "order created");
    Ok(Json(OrderView::from(order)))
}
