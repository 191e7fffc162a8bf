"""Questions with gold answers, aliases, supporting documents and four-option choices."""
from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass, field

from .agreements import FEE_NAMES, TYPES, Agreement, Amendment
from .documents import News
from .fields import answer_of, current_value
from .util import dedupe, join_names, words
from .world import COUNTRIES, HOLDING_INDUSTRY, World

QA_TYPES = ("single_hop", "multi_hop", "comparison", "aggregation", "global", "unanswerable")
TARGETS = {"single_hop": 250, "multi_hop": 100, "comparison": 50, "aggregation": 50, "global": 25,
           "unanswerable": 25}
# A second draw appended after the first 500 questions (q501...), so that single-hop, multi-hop and comparison
# each have at least 100 test questions: enough for a 95% interval of about +-10 points per type. It uses its
# own random stream, so the first 500 questions and every other file stay byte-identical to the first release.
EXTRA_TARGETS = {"single_hop": 50, "multi_hop": 200, "comparison": 250}
EXTRA_COMPARISON_TRIES = 200  # each comparison template needs about 40 groups beyond the first draw's
SPLIT_SHARES = (("test", 0.35), ("dev", 0.15))  # the rest is train
UNANSWERABLE = "unanswerable"
UNANSWERABLE_ALIASES = ["not stated", "not mentioned", "no information", "cannot be answered",
                        "not in the documents", "not specified", "does not say", "unknown"]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).replace(" the ", " ").split())


@dataclass
class Q:
    type: str
    template: str
    question: str
    answer: str
    aliases: list[str]
    doc_ids: list[str]
    pool: list[str] | None = None  # distractor candidates (None: no choices)
    fixed_choices: list[str] | None = None  # comparison: the compared items
    pinned: list[str] | None = None  # distractors that must be among the choices
    choices: list[str] | None = None
    answer_index: int | None = None
    split: str = ""
    extra: dict = field(default_factory=dict)


def _count_answer(n: int, noun: str) -> tuple[str, list[str]]:
    plural = noun if n == 1 else noun + "s"
    return str(n), [str(n), words(n), f"{n} {plural}", f"{words(n)} {plural}"]


def _count_pool(n: int) -> list[str]:
    return [str(k) for k in range(max(1, n - 3), n + 4) if k != n]


class Builder:
    def __init__(self, rng: random.Random, world: World, agreements: list[Agreement],
                 amendments: list[Amendment], news: list[News]):
        self.rng, self.world, self.ags, self.ams, self.news = rng, world, agreements, amendments, news
        self.amended = {(am.agreement.doc_id, am.field): am for am in amendments}
        self.by_company: dict[str, list[Agreement]] = {c.name: [] for c in world.companies}
        for ag in agreements:
            self.by_company[ag.a.name].append(ag)
            self.by_company[ag.b.name].append(ag)

    # -- helpers
    def cur(self, ag: Agreement, fld: str):
        return current_value(ag, fld, self.ams)

    def docs_for(self, ag: Agreement, fld: str) -> list[str]:
        am = self.amended.get((ag.doc_id, fld))
        return [ag.doc_id] + ([am.doc_id] if am else [])

    def field_pool(self, fld: str, kind: str | None = None) -> list[str]:
        out = []
        for ag in self.ags:
            if kind and ag.fee_kind != kind:
                continue
            value = self.cur(ag, fld)[0]
            if value is None or (fld == "renewal" and value == 0):
                continue
            out.append(answer_of(fld, value)[0])
        return out

    # -- single hop
    AG_QUESTIONS = {
        "law": "What is the governing law of the {t}?",
        "effective": "What is the effective date of the {t}?",
        "term": "What is the initial term of the {t}?",
        "renewal": "What is the renewal period of the {t}?",
        "notice": "What is the termination notice period of the {t}?",
        "payment": "What is the payment term of the {t}?",
        "fee": "What is the {fee} of the {t}?",
        "cap": "What is the liability cap of the {t}?",
        "territory": "What is the exclusive territory of the {t}?",
        "conf": "What is the confidentiality period of the {t}?",
    }
    AMENDED_QUESTIONS = {
        "law": "What is the current governing law of the {t}?",
        "term": "What is the current initial term of the {t}?",
        "notice": "What is the current termination notice period of the {t}?",
        "payment": "What is the current payment term of the {t}?",
        "cap": "What is the current liability cap of the {t}?",
        "conf": "What is the current confidentiality period of the {t}?",
    }

    def single_hop(self) -> dict[str, list[Q]]:
        out: dict[str, list[Q]] = {}
        signers = [p.name for ag in self.ags for p in (ag.sign_a, ag.sign_b)]
        for ag in self.ags:
            for fld, template in self.AG_QUESTIONS.items():
                if (ag.doc_id, fld) in self.amended:
                    continue  # the agreement alone no longer gives the current value: see multi_hop
                value = self.cur(ag, fld)[0]
                if value is None or (fld == "renewal" and value == 0):
                    continue
                answer, aliases = answer_of(fld, value)
                key = fld
                if fld == "fee":
                    pool = self.field_pool(fld, ag.fee_kind)
                else:
                    pool = self.field_pool(fld)
                text = template.format(t=ag.title, fee=FEE_NAMES.get(ag.fee_kind or "", ""))
                out.setdefault(key, []).append(Q("single_hop", key, text, answer, aliases, [ag.doc_id], pool))
            for company, person in ((ag.a, ag.sign_a), (ag.b, ag.sign_b)):
                surname = person.name.split()[-1]
                out.setdefault("signatory", []).append(Q(
                    "single_hop", "signatory", f"Who signed the {ag.title} on behalf of {company.name}?",
                    person.name, [person.name, surname], [ag.doc_id], signers))
        companies = self.world.companies
        ceos = [c.ceo.name for c in companies]
        for c in companies:
            d = [c.doc_id]
            out.setdefault("ceo", []).append(Q("single_hop", "ceo", f"Who is the CEO of {c.name}?", c.ceo.name,
                                               [c.ceo.name, c.ceo.name.split()[-1]], d, ceos))
            out.setdefault("hq_city", []).append(Q(
                "single_hop", "hq_city", f"In which city is {c.name} headquartered?", c.city,
                [c.city, f"{c.city}, {c.country}"], d, [x.city for x in companies]))
            out.setdefault("founded", []).append(Q(
                "single_hop", "founded", f"In which year was {c.name} founded?", str(c.founded), [str(c.founded)], d,
                [str(x.founded) for x in companies]))
            out.setdefault("industry", []).append(Q(
                "single_hop", "industry", f"In which industry does {c.name} operate?", c.industry, [c.industry], d,
                [x.industry for x in companies]))
            if c.parent:
                out.setdefault("parent", []).append(Q(
                    "single_hop", "parent", f"What is the parent company of {c.name}?", c.parent,
                    [c.parent, c.parent.split()[0]], d, [x.parent for x in companies if x.parent]))
            o = self.rng.choice(c.officers)
            out.setdefault("officer", []).append(Q(
                "single_hop", "officer", f"Who is the {o.title} of {c.name}?", o.name, [o.name, o.name.split()[-1]], d,
                [p.name for x in companies for p in x.officers if p.title == o.title]))
        acq_years = [str(c.acquired) for c in companies if c.acquired]
        ceo_years = [str(c.ceo_since) for c in companies]
        for n in self.news:
            if n.kind == "acquisition":
                parent, child = n.companies
                out.setdefault("acquisition_year", []).append(Q(
                    "single_hop", "acquisition_year", f"In which year did {parent} acquire {child}?", str(n.year),
                    [str(n.year)], [n.doc_id], acq_years))
            elif n.kind == "ceo":
                c = self.world.by_name[n.companies[0]]
                out.setdefault("ceo_since", []).append(Q(
                    "single_hop", "ceo_since", f"In which year was {c.ceo.name} appointed CEO of {c.name}?",
                    str(n.year), [str(n.year)], [n.doc_id], ceo_years))
        return out

    # -- multi hop
    def multi_hop(self) -> dict[str, list[Q]]:
        out: dict[str, list[Q]] = {}
        w = self.world
        for am in self.ams:
            ag, fld = am.agreement, am.field
            answer, aliases = answer_of(fld, am.new)
            old = answer_of(fld, am.old)[0]
            out.setdefault("amended_" + fld, []).append(Q(
                "multi_hop", "amended_" + fld, self.AMENDED_QUESTIONS[fld].format(t=ag.title), answer, aliases,
                [ag.doc_id, am.doc_id], self.field_pool(fld), pinned=[old]))  # the superseded value is a distractor
        ceos = [c.ceo.name for c in w.companies]
        cities = [c.city for c in w.companies]
        for c in w.companies:
            if not c.parent:
                continue
            p = w.by_name[c.parent]
            out.setdefault("parent_ceo", []).append(Q(
                "multi_hop", "parent_ceo", f"Who is the CEO of the parent company of {c.name}?", p.ceo.name,
                [p.ceo.name, p.ceo.name.split()[-1]], [c.doc_id, p.doc_id], ceos))
            out.setdefault("parent_city", []).append(Q(
                "multi_hop", "parent_city", f"In which city is the parent company of {c.name} headquartered?", p.city,
                [p.city, f"{p.city}, {p.country}"], [c.doc_id, p.doc_id], cities))
            if p.parent:
                top = w.by_name[p.parent]
                out.setdefault("ultimate_owner", []).append(Q(
                    "multi_hop", "ultimate_owner",
                    f"Which investment holding company ultimately owns {c.name} through its parent company?",
                    top.name, [top.name, top.name.split()[0]], [c.doc_id, p.doc_id, top.doc_id],
                    [x.name for x in w.companies if x.industry == HOLDING_INDUSTRY]))
        laws = self.field_pool("law")
        for c in w.companies:
            signed = [ag for ag in self.by_company[c.name] if ag.signatory_for(c.name) is c.ceo]
            kinds = Counter(ag.kind for ag in signed)
            for ag in signed:
                if kinds[ag.kind] != 1:
                    continue
                value = self.cur(ag, "law")[0]
                answer, aliases = answer_of("law", value)
                out.setdefault("ceo_signed_law", []).append(Q(
                    "multi_hop", "ceo_signed_law",
                    f"What is the governing law of the {ag.type_name} that the CEO of {c.name} signed?",
                    answer, aliases, [c.doc_id] + self.docs_for(ag, "law"), laws))
        for ag in self.ags:
            ra, rb = ag.roles
            same = [x for x in self.ags if x.kind == ag.kind and x.a is ag.a]
            if len(same) == 1:
                b = ag.b
                out.setdefault("counterparty_ceo", []).append(Q(
                    "multi_hop", "counterparty_ceo",
                    f"Who is the CEO of the {rb} under the {ag.type_name} in which {ag.a.name} is the {ra}?",
                    b.ceo.name, [b.ceo.name, b.ceo.name.split()[-1]], [ag.doc_id, b.doc_id], ceos))
            same = [x for x in self.ags if x.kind == ag.kind and x.b is ag.b]
            if len(same) == 1:
                a = ag.a
                out.setdefault("counterparty_city", []).append(Q(
                    "multi_hop", "counterparty_city",
                    f"In which city is the headquarters of the {ra} under the {ag.type_name} in which {ag.b.name} is the {rb}?",
                    a.city, [a.city, f"{a.city}, {a.country}"], [ag.doc_id, a.doc_id], cities))
        for n in self.news:
            if n.kind == "acquisition":
                parent = w.by_name[n.companies[0]]
                out.setdefault("acquirer_ceo", []).append(Q(
                    "multi_hop", "acquirer_ceo",
                    f"Who is the CEO of the company that acquired {n.companies[1]} in {n.year}?",
                    parent.ceo.name, [parent.ceo.name, parent.ceo.name.split()[-1]], [n.doc_id, parent.doc_id], ceos))
        return out

    # -- comparison (four items named in the question; the choices are those four)
    def comparison(self, tries: int = 40) -> dict[str, list[Q]]:
        out: dict[str, list[Q]] = {}
        rng, w = self.rng, self.world
        seen: set[tuple] = set()

        def company_q(key, text, pick):
            for _ in range(tries):
                group = rng.sample(w.companies, 4)
                values = [c.founded for c in group]
                best = pick(values)
                if values.count(best) != 1:
                    continue
                ids = tuple(sorted(c.doc_id for c in group))
                if (key, ids) in seen:
                    continue
                seen.add((key, ids))
                win = group[values.index(best)]
                names = [c.name for c in group]
                q = text.format(items=", ".join(names[:3]) + " or " + names[3])
                out.setdefault(key, []).append(Q("comparison", key, q, win.name, [win.name, win.name.split()[0]],
                                                 sorted(ids), fixed_choices=names))

        company_q("founded_earliest", "Which of these companies was founded earliest: {items}?", min)
        company_q("founded_latest", "Which of these companies was founded most recently: {items}?", max)

        def agreement_q(key, fld, text, pick, same_currency=False):
            for _ in range(tries):
                group = rng.sample(self.ags, 4)
                vals = [self.cur(ag, fld)[0] for ag in group]
                if any(v is None for v in vals):
                    continue
                if same_currency:
                    if len({v[1] for v in vals}) != 1:
                        continue
                    vals = [v[0] for v in vals]
                best = pick(vals)
                if vals.count(best) != 1:
                    continue
                ids = tuple(sorted(ag.doc_id for ag in group))
                if (key, ids) in seen:
                    continue
                seen.add((key, ids))
                win = group[vals.index(best)]
                titles = [ag.title for ag in group]
                q = text + " " + "; ".join(f"({k + 1}) the {t}" for k, t in enumerate(titles)) + "?"
                docs = sorted(d for ag in group for d in self.docs_for(ag, fld))
                out.setdefault(key, []).append(Q("comparison", key, q, win.title, [win.title], docs,
                                                 fixed_choices=titles))

        agreement_q("longest_term", "term", "Which of these agreements has the longest initial term:", max)
        agreement_q("shortest_notice", "notice", "Which of these agreements has the shortest termination notice period:", min)
        agreement_q("earliest_effective", "effective", "Which of these agreements took effect first:", min)
        agreement_q("longest_confidentiality", "conf", "Which of these agreements has the longest confidentiality period:", max)
        for _ in range(3):  # same-currency groups are rarer: try harder
            agreement_q("highest_cap", "cap", "Which of these agreements has the highest liability cap:", max, same_currency=True)
        return out

    # -- aggregation
    def aggregation(self) -> dict[str, list[Q]]:
        out: dict[str, list[Q]] = {}
        w = self.world
        for c in w.companies:
            ags = self.by_company[c.name]
            if len(ags) >= 2:
                ans, al = _count_answer(len(ags), "agreement")
                out.setdefault("count_company_agreements", []).append(Q(
                    "aggregation", "count_company_agreements", f"How many agreements is {c.name} a party to?", ans, al,
                    sorted(ag.doc_id for ag in ags), _count_pool(len(ags))))
        pairs: dict[tuple[str, str], list[Agreement]] = {}
        for ag in self.ags:
            pairs.setdefault(tuple(sorted((ag.a.name, ag.b.name))), []).append(ag)
        for (x, y), ags in pairs.items():
            if len(ags) >= 2:
                ans, al = _count_answer(len(ags), "agreement")
                out.setdefault("count_pair_agreements", []).append(Q(
                    "aggregation", "count_pair_agreements", f"How many agreements have {x} and {y} signed with each other?",
                    ans, al, sorted(ag.doc_id for ag in ags), _count_pool(len(ags))))
        for kind, spec in TYPES.items():
            for country in COUNTRIES:
                match = [ag for ag in self.ags if ag.kind == kind and self.cur(ag, "law")[0] == country]
                if len(match) >= 2:
                    ans, al = _count_answer(len(match), spec[0])
                    out.setdefault("count_type_law", []).append(Q(
                        "aggregation", "count_type_law",
                        f"How many {spec[0]}s are governed by the laws of {'the ' if country == 'Netherlands' else ''}{country}?",
                        ans, al, sorted(d for ag in match for d in self.docs_for(ag, "law")), _count_pool(len(match))))
        for c in w.companies:
            kids = w.children(c.name)
            if kids:
                ans, al = _count_answer(len(kids), "subsidiary")
                al += [f"{len(kids)} subsidiaries", f"{words(len(kids))} subsidiaries"]
                out.setdefault("count_subsidiaries", []).append(Q(
                    "aggregation", "count_subsidiaries", f"How many direct subsidiaries does {c.name} have?", ans,
                    dedupe(al), sorted(k.doc_id for k in kids), _count_pool(len(kids))))
            if len(kids) in (2, 3):
                names = sorted(k.name for k in kids)
                aliases = dedupe([join_names(list(p)) for p in itertools.permutations(names)]
                                 + [", ".join(p) for p in itertools.permutations(names)])
                pool = []
                for other in w.companies:
                    sib = sorted(k.name for k in w.children(other.name))
                    if other is not c and len(sib) == len(names):
                        pool.append(join_names(sib))
                others = [x.name for x in w.companies if x.name not in names]
                r = random.Random(len(pool))
                while len(pool) < 6:
                    pool.append(join_names(sorted(r.sample(others, len(names)))))
                out.setdefault("list_subsidiaries", []).append(Q(
                    "aggregation", "list_subsidiaries", f"Which companies are direct subsidiaries of {c.name}?",
                    join_names(names), aliases, sorted(k.doc_id for k in kids), pool))
        for country in COUNTRIES:
            cs = [c for c in w.companies if c.country == country]
            if len(cs) >= 2:
                ans, al = _count_answer(len(cs), "company")
                al += [f"{len(cs)} companies", f"{words(len(cs))} companies"]
                out.setdefault("count_country_companies", []).append(Q(
                    "aggregation", "count_country_companies",
                    f"How many companies are headquartered in {'the ' if country == 'Netherlands' else ''}{country}?",
                    ans, dedupe(al), sorted(c.doc_id for c in cs), _count_pool(len(cs))))
        signed: dict[str, list[Agreement]] = {}
        for ag in self.ags:
            for p in (ag.sign_a, ag.sign_b):
                signed.setdefault(p.name, []).append(ag)
        for person, ags in signed.items():
            if len(ags) >= 2:
                ans, al = _count_answer(len(ags), "agreement")
                out.setdefault("count_signed", []).append(Q(
                    "aggregation", "count_signed", f"How many agreements did {person} sign?", ans, al,
                    sorted(ag.doc_id for ag in ags), _count_pool(len(ags))))
        return out

    # -- global: corpus-wide themes, short answers, no choices
    def global_(self) -> dict[str, list[Q]]:
        out: dict[str, list[Q]] = {}
        all_ag = sorted(ag.doc_id for ag in self.ags)
        law_docs = sorted(d for ag in self.ags for d in self.docs_for(ag, "law"))
        profiles = sorted(c.doc_id for c in self.world.companies)

        def mode(values: list[str]) -> str | None:
            counts = Counter(values).most_common()
            if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
                return None
            return counts[0][0]

        def add(key, text, value, aliases, docs):
            if value is not None:
                out.setdefault(key, []).append(Q("global", key, text, value, dedupe([value] + aliases), docs))

        law = mode([self.cur(ag, "law")[0] for ag in self.ags])
        add("law_mode", "Which governing law is chosen most often across all the agreements?", law,
            answer_of("law", law)[1] if law else [], law_docs)
        for kind, spec in TYPES.items():
            subset = [ag for ag in self.ags if ag.kind == kind]
            law = mode([self.cur(ag, "law")[0] for ag in subset])
            docs = sorted(d for ag in subset for d in self.docs_for(ag, "law"))
            add("law_mode_by_type", f"Which governing law is most common among the {spec[0]}s?", law,
                answer_of("law", law)[1] if law else [], docs)
        kind = mode([ag.type_name for ag in self.ags])
        add("type_mode", "What is the most common type of agreement in the collection?", kind,
            [kind.replace(" Agreement", "") + " agreements"] if kind else [], all_ag)
        ind = mode([c.industry for c in self.world.companies if c.industry != HOLDING_INDUSTRY])
        add("industry_mode", "Which industry do the most operating companies in the collection belong to?", ind, [], profiles)
        country = mode([c.country for c in self.world.companies])
        add("country_mode", "In which country are the most companies headquartered?", country, [], profiles)
        counts = {name: len(ags) for name, ags in self.by_company.items()}
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if ranked[0][1] > ranked[1][1]:
            name = ranked[0][0]
            add("busiest_company", "Which company is a party to the most agreements?", name, [name.split()[0]],
                sorted(ag.doc_id for ag in self.by_company[name]))
        for fld, text in (("notice", "What is the most common termination notice period in the agreements?"),
                          ("payment", "What is the most common payment term in the agreements?"),
                          ("conf", "What is the most common confidentiality period in the agreements?"),
                          ("term", "What is the most common initial term of the agreements?")):
            vals = [self.cur(ag, fld)[0] for ag in self.ags]
            vals = [v for v in vals if v is not None]
            top = mode([answer_of(fld, v)[0] for v in vals])
            value = next((v for v in vals if answer_of(fld, v)[0] == top), None)
            docs = sorted(d for ag in self.ags if self.cur(ag, fld)[0] is not None for d in self.docs_for(ag, fld))
            if value is not None:
                add("mode_" + fld, text, top, answer_of(fld, value)[1], docs)
        years = mode([str(ag.effective.year) for ag in self.ags])
        add("year_mode", "In which year did the most agreements take effect?", years, [], all_ag)
        groups = {c.name: len(self.world.group_members(c.name)) for c in self.world.companies
                  if c.industry == HOLDING_INDUSTRY}
        ranked = sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))
        if ranked[0][1] > ranked[1][1]:
            top = ranked[0][0]
            add("largest_group", "Which investment holding company controls the most companies, directly or indirectly?",
                top, [top.split()[0]], sorted(c.doc_id for c in self.world.group_members(top)))
        fields = mode([am.field for am in self.ams])
        if fields:
            noun = {"term": "initial term", "notice": "termination notice period", "payment": "payment term",
                    "cap": "liability cap", "conf": "confidentiality period", "law": "governing law"}[fields]
            add("amended_field_mode", "Which contract term do the amendments change most often?", noun, [],
                sorted(am.doc_id for am in self.ams))
        auto = sum(1 for ag in self.ags if ag.renewal_years)
        share = round(100 * auto / len(self.ags))
        add("renewal_share", "What share of the agreements renew automatically after the initial term?",
            f"{share}%", [f"{share} percent", f"{auto} of {len(self.ags)}", f"{auto} out of {len(self.ags)}"], all_ag)
        ceo_signed = sum(1 for ag in self.ags for p in (ag.sign_a, ag.sign_b) if p.title == "Chief Executive Officer")
        total = 2 * len(self.ags)
        add("ceo_signature_share", "What share of the signatures on the agreements are by chief executive officers?",
            f"{round(100 * ceo_signed / total)}%", [f"{round(100 * ceo_signed / total)} percent",
                                                     f"{ceo_signed} of {total}"], all_ag)
        excl = sum(1 for ag in self.ags if ag.territory)
        with_clause = sum(1 for ag in self.ags if ag.has_exclusivity)
        add("exclusive_share", "How many of the agreements that contain an exclusivity clause grant exclusive rights?",
            f"{excl} of {with_clause}", [f"{excl} out of {with_clause}", str(excl)],
            sorted(ag.doc_id for ag in self.ags if ag.has_exclusivity))
        kinds = sorted({ag.type_name for ag in self.ags})
        add("types_overview", "What kinds of agreements does the collection contain?",
            join_names([k.replace(" Agreement", "").lower() for k in kinds]) + " agreements", [], all_ag)
        add("industries_overview", "Which industries are the companies in the collection active in?",
            join_names(sorted({c.industry for c in self.world.companies})), [], profiles)
        by_type: dict[str, list[int]] = {}
        for ag in self.ags:
            by_type.setdefault(ag.type_name, []).append(self.cur(ag, "term")[0])
        avg = sorted(((sum(v) / len(v), k) for k, v in by_type.items()), reverse=True)
        if avg[0][0] > avg[1][0]:
            add("longest_avg_term_type", "Which type of agreement has the longest average initial term?", avg[0][1],
                [avg[0][1] + "s"], sorted(d for ag in self.ags for d in self.docs_for(ag, "term")))
        city = mode([c.city for c in self.world.companies])
        add("city_mode", "Which city hosts the headquarters of the most companies?", city, [], profiles)
        for top in [c for c in self.world.companies if c.industry == HOLDING_INDUSTRY]:
            members = [top.name] + [m.name for m in self.world.group_members(top.name)]
            subset = [ag for ag in self.ags if ag.a.name in members or ag.b.name in members]
            law = mode([self.cur(ag, "law")[0] for ag in subset])
            docs = sorted({d for ag in subset for d in self.docs_for(ag, "law")}
                          | {self.world.by_name[m].doc_id for m in members})
            if len(subset) >= 3:
                add("law_mode_by_group",
                    f"Which governing law is most common in the agreements of {top.name} and the companies it owns?",
                    law, answer_of("law", law)[1] if law else [], docs)
        territory = mode([ag.territory for ag in self.ags if ag.territory])
        add("territory_mode", "Which exclusive territory is granted most often in the agreements?", territory, [],
            sorted(ag.doc_id for ag in self.ags if ag.territory))
        amended_type = mode([am.agreement.type_name for am in self.ams])
        add("amended_type_mode", "Which type of agreement is amended most often?", amended_type, [],
            sorted(d for am in self.ams for d in (am.doc_id, am.agreement.doc_id)))
        signer = mode([p.title for ag in self.ags for p in (ag.sign_a, ag.sign_b) if p.title != "Chief Executive Officer"])
        add("signer_title_mode", "Apart from chief executive officers, which officer title signs the agreements most often?",
            signer, [], all_ag)
        cur_counter = Counter(ag.cap[1] for ag in self.ags if ag.cap)
        cur = mode([ag.cap[1] for ag in self.ags if ag.cap])
        add("currency_mode", "In which currency are liability caps most often expressed?", cur,
            [{"EUR": "euros", "USD": "US dollars", "GBP": "pounds", "CHF": "Swiss francs"}.get(cur or "", "")]
            if cur_counter else [], sorted(ag.doc_id for ag in self.ags if ag.cap))
        return out

    # -- unanswerable: plausible questions the corpus does not answer
    def unanswerable(self) -> dict[str, list[Q]]:
        out: dict[str, list[Q]] = {}
        w = self.world

        def add(key, text):
            out.setdefault(key, []).append(Q("unanswerable", key, text, UNANSWERABLE, list(UNANSWERABLE_ALIASES), []))

        for c in w.companies:
            add("revenue", f"What was the annual revenue of {c.name} in 2022?")
            add("employees", f"How many employees does {c.name} have?")
            add("cto", f"Who is the Chief Technology Officer of {c.name}?")
            add("founder", f"Who founded {c.name}?")
            add("ticker", f"On which stock exchange is {c.name} listed?")
        present = {(ag.kind,) + tuple(sorted((ag.a.name, ag.b.name))) for ag in self.ags}
        for ag in self.ags:
            for kind, spec in TYPES.items():
                key = (kind,) + tuple(sorted((ag.a.name, ag.b.name)))
                if key not in present and kind in ("lease", "consulting", "license"):
                    add("missing_agreement", f"What is the governing law of the {spec[0]} between {ag.a.name} and {ag.b.name}?")
                    break
            if ag.kind == "nda":
                add("nda_cap", f"What is the liability cap of the {ag.title}?")
            if ag.fee_kind:
                add("late_interest", f"What interest rate applies to late payments under the {ag.title}?")
        return out


def select(rng: random.Random, grouped: dict[str, list[Q]], target: int) -> list[Q]:
    """Round-robin over templates so that every template is represented, then trim to target."""
    pools = {k: v[:] for k, v in sorted(grouped.items())}
    for v in pools.values():
        rng.shuffle(v)
    chosen: list[Q] = []
    seen: set[str] = set()
    while len(chosen) < target and any(pools.values()):
        for key in sorted(pools):
            if pools[key] and len(chosen) < target:
                q = pools[key].pop()
                if q.question not in seen:
                    seen.add(q.question)
                    chosen.append(q)
    return chosen


def add_choices(rng: random.Random, q: Q) -> None:
    if q.fixed_choices is not None:
        choices = q.fixed_choices[:]
        rng.shuffle(choices)
    elif q.pool is not None:
        bad = {_norm(x) for x in [q.answer, *q.aliases]}
        pool = q.pool[:]
        rng.shuffle(pool)
        distractors: list[str] = list(q.pinned or [])
        for cand in pool:
            if _norm(cand) not in bad and cand not in distractors:
                distractors.append(cand)
            if len(distractors) == 3:
                break
        if len(distractors) < 3:
            raise RuntimeError(f"not enough distractors for {q.question!r}")
        choices = distractors + [q.answer]
        rng.shuffle(choices)
    else:
        return
    q.choices = choices
    q.answer_index = choices.index(q.answer)


def assign_splits(rng: random.Random, qs: list[Q]) -> None:
    idx = list(range(len(qs)))
    rng.shuffle(idx)
    n = len(qs)
    cut_test = round(n * SPLIT_SHARES[0][1])
    cut_dev = cut_test + round(n * SPLIT_SHARES[1][1])
    for rank, i in enumerate(idx):
        qs[i].split = "test" if rank < cut_test else "dev" if rank < cut_dev else "train"


def build_questions(rng: random.Random, world: World, agreements: list[Agreement], amendments: list[Amendment],
                    news: list[News]) -> list[Q]:
    b = Builder(rng, world, agreements, amendments, news)
    grouped = {"single_hop": b.single_hop(), "multi_hop": b.multi_hop(), "comparison": b.comparison(),
               "aggregation": b.aggregation(), "global": b.global_(), "unanswerable": b.unanswerable()}
    out: list[Q] = []
    for qtype in QA_TYPES:
        chosen = select(rng, grouped[qtype], TARGETS[qtype])
        for q in chosen:
            add_choices(rng, q)
        assign_splits(rng, chosen)
        out.extend(chosen)
    return out


def _identity(q: Q) -> tuple:
    """What makes two questions the same: their wording, or for a comparison the same template on the same items."""
    if q.type == "comparison":
        return (q.template, tuple(sorted(q.doc_ids)))
    return (_norm(q.question),)


def extra_questions(seed: int, world: World, agreements: list[Agreement], amendments: list[Amendment],
                    news: list[News], first: list[Q]) -> list[Q]:
    """EXTRA_TARGETS more questions per type, none the same as a question of `first`, split like the first draw."""
    rng = random.Random(f"extra-questions-{seed}")
    b = Builder(rng, world, agreements, amendments, news)
    grouped = {"single_hop": b.single_hop(), "multi_hop": b.multi_hop(),
               "comparison": b.comparison(tries=EXTRA_COMPARISON_TRIES)}
    taken = {_identity(q) for q in first} | {(_norm(q.question),) for q in first}
    out: list[Q] = []
    for qtype, target in EXTRA_TARGETS.items():
        fresh = {key: [q for q in qs if _identity(q) not in taken and (_norm(q.question),) not in taken]
                 for key, qs in grouped[qtype].items()}
        chosen = select(rng, fresh, target)
        if len(chosen) < target:
            raise RuntimeError(f"only {len(chosen)} new {qtype} questions, {target} wanted")
        for q in chosen:
            add_choices(rng, q)
        assign_splits(rng, chosen)
        out.extend(chosen)
    return out


def qa_rows(qs: list[Q]) -> list[dict]:
    rows = []
    for k, q in enumerate(qs, 1):
        row = {"qid": f"q{k:03d}", "question": q.question, "answer": q.answer,
               "aliases": [a for a in dedupe(q.aliases) if a != q.answer], "doc_ids": q.doc_ids, "type": q.type, "split": q.split}
        if q.choices is not None:
            row["choices"] = q.choices
            row["answer_index"] = q.answer_index
        rows.append(row)
    return rows
