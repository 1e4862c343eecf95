"""The cloud's HTTP API: one router per resource."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api import audit, commands, devices, edges, health, models, plans, tokens

ROUTERS: tuple[APIRouter, ...] = (health.router, tokens.router, edges.router, devices.router, commands.router,
                                  models.router, plans.router, audit.router)
