"""Queries behind the answers to the public's questions: disclosable fields only.

Everything here may be shown to anyone (DESIGN.md, "public data is public"): approved projects and
amounts, payments, progress marked public, inspection and evaluation results, catalogs, budgets,
calls and the qualified list. Nothing here reads contacts, drafts or application content, survey
answers, tickets, needs or chat identities; satisfaction figures come from ``surveys.public_satisfaction``.

One module per subject: ``names`` (what questions may name), ``projects`` (lists of projects),
``record`` (one project), ``catalog``, ``budgets``, ``calls``, ``organizations``; ``statements`` runs
their SQL. The package re-exports every read model for callers that read across subjects.
"""

from store.public.budgets import BudgetRow, budget_years, budgets
from store.public.calls import CallRow, CallWindows, call_windows
from store.public.catalog import CatalogRow, catalog, catalog_years
from store.public.names import (
    ItemName,
    Names,
    catalog_item_list,
    catalog_item_names,
    department_names,
    district_english_names,
    districts,
    level1_categories,
    names,
    names_fingerprint,
    organization_names,
    project_years,
)
from store.public.organizations import (
    OrganizationRecord,
    OrganizationRow,
    organization_record,
    qualified_organizations,
    qualified_years,
    ratings_from,
)
from store.public.projects import (
    ProjectFilter,
    ProjectPage,
    ProjectRow,
    find_projects,
    grade_counts,
    paid_total,
    projects_by_code,
)
from store.public.record import (
    Due,
    InspectionRow,
    ProjectRecord,
    Tranche,
    Update,
    inspections,
    next_milestones,
    project_record,
    public_updates,
    tranches,
)

__all__ = [
    "BudgetRow", "CallRow", "CallWindows", "CatalogRow", "Due", "InspectionRow", "ItemName", "Names",
    "OrganizationRecord", "OrganizationRow", "ProjectFilter", "ProjectPage", "ProjectRecord", "ProjectRow",
    "Tranche", "Update", "budget_years", "budgets", "call_windows", "catalog", "catalog_item_list",
    "catalog_item_names", "catalog_years", "department_names", "district_english_names", "districts",
    "find_projects", "grade_counts", "inspections", "level1_categories", "names", "names_fingerprint",
    "next_milestones", "organization_names", "organization_record", "paid_total", "project_record",
    "project_years", "projects_by_code", "public_updates", "qualified_organizations", "qualified_years",
    "ratings_from", "tranches",
]
