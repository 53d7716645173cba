"""NPU604: accept both `--local_rank` and `--local-rank`.

Before::

    parser.add_argument('--local_rank', type=int, default=0)

After::

    parser.add_argument('--local_rank', '--local-rank', dest='local_rank', type=int, default=0)

Why: torch >= 2.0's `torch.distributed.launch` passes `--local-rank`; the OpenMMLab-era tools only accept
`--local_rank` and stop with "unrecognized arguments". Both spellings, one dest, so `args.local_rank`
keeps working with either launcher (torchrun sets LOCAL_RANK and passes neither).
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters.base import Rule, RuleTransformer


class _LocalRank(RuleTransformer):
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = original.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "add_argument":
            return updated
        flags = [a for a in updated.args if a.keyword is None and isinstance(a.value, cst.SimpleString)]
        values = [a.value.evaluated_value for a in flags]  # type: ignore[attr-defined]
        if "--local_rank" not in values or "--local-rank" in values:
            return updated
        index = next(i for i, a in enumerate(updated.args)
                     if a.keyword is None and isinstance(a.value, cst.SimpleString)
                     and a.value.evaluated_value == "--local_rank")
        quote = updated.args[index].value.value[0]  # type: ignore[attr-defined]
        space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        new = [cst.Arg(cst.SimpleString(f"{quote}--local-rank{quote}"), comma=space)]
        if not any(a.keyword is not None and a.keyword.value == "dest" for a in updated.args):
            new.append(cst.Arg(cst.SimpleString(f"{quote}local_rank{quote}"), keyword=cst.Name("dest"),
                               equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                     whitespace_after=cst.SimpleWhitespace("")),
                               comma=space))
        args = list(updated.args)
        flag = args[index]
        if flag.comma is cst.MaybeSentinel.DEFAULT:
            flag = flag.with_changes(comma=space)
            new[-1] = new[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        args[index:index + 1] = [flag] + new
        self.fix(original, "add_argument('--local_rank') also accepts --local-rank (dest='local_rank')")
        return updated.with_changes(args=args)


class LocalRankArgRule(Rule):
    ID = "NPU604"
    DESCRIPTION = "make argparse '--local_rank' also accept '--local-rank' (torch>=2 launchers), same dest"
    FIXABLE = True
    TRIGGERS = ("--local_rank",)
    Transformer = _LocalRank
