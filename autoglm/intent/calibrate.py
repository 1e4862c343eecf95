"""Temperature scaling of the intent logits and the out-of-scope confidence thresholds, fitted on calib.

Confidence = max softmax(intent_logits / temperature). The edge accepts a prediction when its label
is not out_of_scope and confidence >= threshold (`high_risk` for HIGH_RISK_INTENTS, else `default`).

Threshold rule: the lowest threshold t such that the out_of_scope calib examples predicted in-scope
with confidence >= t are at most `budget` of all out_of_scope examples (2% default, 0.5% high risk).
Recall of in-scope examples only falls as t rises, so the lowest such t keeps the most of it. Calib
is drawn from the training distribution and real out-of-scope phrasing is broader, so t is then
raised to a floor (0.5 default, 0.8 high risk; pass 0 to switch it off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from shared.intent import INTENT_LABELS, OUT_OF_SCOPE, Thresholds

#: Temperatures are clipped here: on near-separable calib data the NLL optimum runs off towards 0.
TEMPERATURE_RANGE = (0.25, 16.0)


@dataclass(frozen=True)
class Calibration:
    """What the manifest records, plus calib statistics for the metrics."""

    temperature: float
    thresholds: Thresholds
    metrics: dict[str, float] = field(default_factory=dict)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) (LBFGS on log T)."""
    logits, labels = logits.detach().double(), labels.long()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    t = float(log_t.detach().exp())
    if not math.isfinite(t):
        return 1.0
    return min(max(t, TEMPERATURE_RANGE[0]), TEMPERATURE_RANGE[1])


def oos_threshold(confidence: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor, budget: float) -> float:
    """Lowest t with #{out_of_scope, predicted in-scope, confidence >= t} <= budget * #out_of_scope."""
    oos = INTENT_LABELS.index(OUT_OF_SCOPE)
    is_oos = labels == oos
    n_oos = int(is_oos.sum())
    if n_oos == 0:
        raise ValueError("calib has no out_of_scope examples: thresholds cannot be calibrated")
    false_accepts = confidence[is_oos & (predicted != oos)].double().sort(descending=True).values
    allowed = math.floor(budget * n_oos + 1e-9)
    if len(false_accepts) <= allowed:
        return 0.0
    # Strictly above the (allowed+1)-th highest false accept, so exactly `allowed` remain at or above t.
    return min(1.0, math.nextafter(float(false_accepts[allowed]), math.inf))


def acceptance(confidence: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor, t: float) -> dict[str, float]:
    """At threshold t: share of out_of_scope accepted, share of in-scope accepted with the right label."""
    oos = INTENT_LABELS.index(OUT_OF_SCOPE)
    accepted = (predicted != oos) & (confidence >= t)
    is_oos = labels == oos
    correct = accepted & (predicted == labels)
    return {
        "oos_accept": float(accepted[is_oos].float().mean()) if is_oos.any() else 0.0,
        "in_scope_recall": float(correct[~is_oos].float().mean()) if (~is_oos).any() else 0.0,
    }


def calibrate(
    logits: torch.Tensor,  # [N, C] student intent logits on calib
    labels: torch.Tensor,  # [N]
    *,
    budget: float = 0.02,
    high_risk_budget: float = 0.005,
    floor: float = 0.5,
    high_risk_floor: float = 0.8,
) -> Calibration:
    """Fit the temperature, then the default and high-risk thresholds (rule in the module docstring)."""
    temperature = fit_temperature(logits, labels)
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    confidence, predicted = probs.max(dim=-1)
    rule_default = oos_threshold(confidence, predicted, labels, budget)
    rule_high_risk = oos_threshold(confidence, predicted, labels, high_risk_budget)
    default = max(floor, rule_default)
    high_risk = max(default, high_risk_floor, rule_high_risk)
    metrics = {
        "calib_rule_threshold_default": rule_default,
        "calib_rule_threshold_high_risk": rule_high_risk,
        "calib_nll_raw": float(F.cross_entropy(logits.double(), labels)),
        "calib_nll_scaled": float(F.cross_entropy(logits.double() / temperature, labels)),
    }
    for name, t in (("default", default), ("high_risk", high_risk)):
        metrics |= {f"calib_{k}_{name}": v for k, v in acceptance(confidence, predicted, labels, t).items()}
    return Calibration(temperature, Thresholds(default=default, high_risk=high_risk), metrics)
