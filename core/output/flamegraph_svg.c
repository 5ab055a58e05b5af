/* A self-contained interactive SVG flamegraph (icicle layout: the root on
 * top), drawn from normalized folded lines.  Every frame is a <g> with its
 * position as fractions of the total; a small inline script gives hover
 * details, click to zoom (click the root or press Escape to reset) and
 * search (highlights matches and sums their share).  No external files. */
#include "folded.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

enum { WIDTH = 1200, ROW = 17, TOP = 48, MIN_PIXELS = 1 };

typedef struct fg_node {
	const char *name;
	size_t name_length;
	size_t parent, first_child, last_child, next_sibling;
	uint64_t total;
	uint64_t x;        /* left edge, in value units */
	uint64_t cursor;   /* next child's left edge */
	unsigned depth;
} fg_node;

#define FG_NONE ((size_t)-1)

static void xml_text(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(s[i], out);
		}
	}
}

/* A warm colour from the name, stable between runs. */
static void colour(const char *name, size_t n, char out[32])
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	unsigned r = 205 + (h % 50), g = 80 + ((h >> 8) % 150), b = 40 + ((h >> 16) % 50);
	if (n && name[0] == '[') {  /* [padding], [unused]: grey */
		r = 170 + (h % 30);
		g = r;
		b = r;
	}
	snprintf(out, 32, "rgb(%u,%u,%u)", r, g, b);
}

static const char script[] =
	"<script type=\"text/ecmascript\"><![CDATA[\n"
	"var W=" "1200" ",frames=[],zoomed=null,total=0,unit='';\n"
	"function A(e,n){return parseFloat(e.getAttribute(n));}\n"
	"function init(){var s=document.documentElement;unit=s.getAttribute('data-unit');"
	"total=A(s,'data-total');frames=Array.prototype.slice.call(document.getElementsByClassName('f'));"
	"frames.forEach(function(g){g.onmouseover=function(){show(g);};"
	"g.onmouseout=function(){document.getElementById('details').textContent=' ';};"
	"g.onclick=function(){zoom(g);};});"
	"document.onkeydown=function(e){if(e.key==='Escape')reset();"
	"if((e.ctrlKey&&e.key==='f')||e.key==='/'){e.preventDefault();search();}};"
	"layout(0,1,0);}\n"
	"function fmt(v){return v.toString().replace(/\\B(?=(\\d{3})+(?!\\d))/g,',');}\n"
	"function show(g){var v=A(g,'data-v');document.getElementById('details').textContent="
	"g.getAttribute('data-path')+'  '+fmt(v)+' '+unit+' ('+(100*v/total).toFixed(2)+'%)';}\n"
	"function label(g,w){var t=g.getElementsByTagName('text')[0],n=g.getAttribute('data-n');"
	"var c=Math.floor((w-6)/7);t.textContent=c<3?'':(n.length<=c?n:n.substr(0,c-2)+'..');}\n"
	"function layout(x0,w0,d0){frames.forEach(function(g){var x=A(g,'data-x'),w=A(g,'data-w'),"
	"d=A(g,'data-d'),r=g.getElementsByTagName('rect')[0],t=g.getElementsByTagName('text')[0];"
	"var inside=x>=x0-1e-12&&x+w<=x0+w0+1e-12,above=d<d0&&x<=x0+1e-12&&x+w>=x0+w0-1e-12;"
	"if(!(inside&&d>=d0)&&!above){g.style.display='none';return;}g.style.display='';"
	"var nx=above?0:(x-x0)/w0*W,nw=above?W:w/w0*W;r.setAttribute('x',nx);"
	"r.setAttribute('width',Math.max(nw-0.5,0.1));t.setAttribute('x',nx+3);label(g,nw);});}\n"
	"function zoom(g){if(A(g,'data-d')===0){reset();return;}zoomed=g;"
	"layout(A(g,'data-x'),A(g,'data-w'),A(g,'data-d'));"
	"document.getElementById('unzoom').style.display='';}\n"
	"function reset(){zoomed=null;layout(0,1,0);document.getElementById('unzoom').style.display='none';}\n"
	"function search(){var q=prompt('Search (regular expression)','');if(q===null)return;"
	"var re;try{re=new RegExp(q);}catch(e){return;}var sum=0,seen=[];"
	"frames.forEach(function(g){var r=g.getElementsByTagName('rect')[0];"
	"if(q!==''&&re.test(g.getAttribute('data-n'))){r.setAttribute('fill','rgb(230,0,230)');"
	"var x=A(g,'data-x'),w=A(g,'data-w');if(!seen.some(function(s){return x>=s[0]&&x+w<=s[1]+1e-12;}))"
	"{seen.push([x,x+w]);sum+=A(g,'data-v');}}else r.setAttribute('fill',r.getAttribute('data-c'));});"
	"document.getElementById('matched').textContent=q===''?' ':'Matched: '+(100*sum/total).toFixed(2)+'%';}\n"
	"]]></script>\n";

mp_error *mp_flamegraph_svg(FILE *out, const mp_folded_line *lines, size_t n,
			    const mp_flamegraph_options *options)
{
	fg_node *nodes = NULL;
	size_t n_nodes = 0, cap = 0;
	if (!MP_ARRAY_RESERVE(nodes, cap, 1))
		return mp_error_new(MP_ERR_NOMEM, "out of memory drawing the flamegraph");
	memset(&nodes[0], 0, sizeof(nodes[0]));
	nodes[0].name = "all";
	nodes[0].name_length = 3;
	nodes[0].parent = nodes[0].first_child = nodes[0].last_child =
		nodes[0].next_sibling = FG_NONE;
	n_nodes = 1;
	for (size_t i = 0; i < n; i++) {
		const char *s = lines[i].stack;
		size_t current = 0;
		nodes[0].total += lines[i].value;
		while (*s) {
			size_t length = strcspn(s, ";");
			size_t c = nodes[current].first_child;
			while (c != FG_NONE && !(nodes[c].name_length == length &&
						 memcmp(nodes[c].name, s, length) == 0))
				c = nodes[c].next_sibling;
			if (c == FG_NONE) {
				if (!MP_ARRAY_RESERVE(nodes, cap, n_nodes + 1)) {
					free(nodes);
					return mp_error_new(MP_ERR_NOMEM, "out of memory drawing the flamegraph");
				}
				c = n_nodes++;
				memset(&nodes[c], 0, sizeof(nodes[c]));
				nodes[c].name = s;
				nodes[c].name_length = length;
				nodes[c].parent = current;
				nodes[c].depth = nodes[current].depth + 1;
				nodes[c].first_child = nodes[c].last_child = nodes[c].next_sibling = FG_NONE;
				if (nodes[current].last_child == FG_NONE)
					nodes[current].first_child = c;
				else
					nodes[nodes[current].last_child].next_sibling = c;
				nodes[current].last_child = c;
			}
			nodes[c].total += lines[i].value;
			current = c;
			s += length;
			if (*s == ';')
				s++;
		}
	}
	unsigned max_depth = 0;
	for (size_t i = 1; i < n_nodes; i++) {
		fg_node *p = &nodes[nodes[i].parent];
		nodes[i].x = p->x + p->cursor;
		p->cursor += nodes[i].total;
		if (nodes[i].depth > max_depth)
			max_depth = nodes[i].depth;
	}
	uint64_t total = nodes[0].total ? nodes[0].total : 1;
	const char *title = options && options->title ? options->title : "Flame graph";
	const char *unit = options && options->unit ? options->unit : "";
	unsigned height = TOP + (max_depth + 1) * ROW + 30;
	fprintf(out, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%d\" height=\"%u\" viewBox=\"0 0 %d %u\" "
		"onload=\"init()\" xmlns=\"http://www.w3.org/2000/svg\" data-unit=\"",
		WIDTH, height, WIDTH, height);
	xml_text(out, unit, strlen(unit));
	fprintf(out, "\" data-total=\"%" PRIu64 "\">\n", nodes[0].total);
	fputs("<style>text{font-family:monospace;font-size:12px;fill:#000}"
	      " g.f:hover rect{stroke:#000;stroke-width:0.5} g.f{cursor:pointer}"
	      " #title{font-size:17px} .ui{cursor:pointer;fill:#333}</style>\n", out);
	fputs(script, out);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%u\" fill=\"#fbf8f0\"/>\n",
		WIDTH, height);
	fprintf(out, "<text id=\"title\" x=\"%d\" y=\"22\" text-anchor=\"middle\">", WIDTH / 2);
	xml_text(out, title, strlen(title));
	fputs("</text>\n", out);
	if (options && options->subtitle) {
		fprintf(out, "<text x=\"%d\" y=\"38\" text-anchor=\"middle\">", WIDTH / 2);
		xml_text(out, options->subtitle, strlen(options->subtitle));
		fputs("</text>\n", out);
	}
	fprintf(out, "<text id=\"unzoom\" class=\"ui\" x=\"10\" y=\"22\" style=\"display:none\" "
		"onclick=\"reset()\">Reset zoom</text>\n"
		"<text class=\"ui\" x=\"%d\" y=\"22\" text-anchor=\"end\" onclick=\"search()\">Search</text>\n"
		"<text id=\"matched\" x=\"%d\" y=\"%u\" text-anchor=\"end\"> </text>\n"
		"<text id=\"details\" x=\"10\" y=\"%u\"> </text>\n",
		WIDTH - 10, WIDTH - 10, height - 10, height - 10);
	/* Paths: rebuilt per node from its ancestors (depth is small). */
	size_t chain[256];
	for (size_t i = 0; i < n_nodes; i++) {
		const fg_node *f = &nodes[i];
		double x = (double)f->x / (double)total, w = (double)f->total / (double)total;
		if (w * WIDTH < MIN_PIXELS && i)
			continue;
		char fill[32];
		colour(f->name, f->name_length, fill);
		unsigned y = TOP + f->depth * ROW;
		fprintf(out, "<g class=\"f\" data-x=\"%.12g\" data-w=\"%.12g\" data-d=\"%u\" "
			"data-v=\"%" PRIu64 "\" data-n=\"", x, w, f->depth, f->total);
		xml_text(out, f->name, f->name_length);
		fputs("\" data-path=\"", out);
		size_t depth = 0;
		for (size_t c = i; c != 0 && c != FG_NONE && depth < 256; c = nodes[c].parent)
			chain[depth++] = c;
		if (!depth)
			fputs("all", out);
		for (size_t k = depth; k-- > 0;) {
			xml_text(out, nodes[chain[k]].name, nodes[chain[k]].name_length);
			if (k)
				fputc(';', out);
		}
		fprintf(out, "\"><title>");
		xml_text(out, f->name, f->name_length);
		fprintf(out, " (%" PRIu64 " %s, %.2f%%)</title>"
			"<rect x=\"%.2f\" y=\"%u\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
			"data-c=\"%s\" rx=\"2\"/><text x=\"%.2f\" y=\"%u\">",
			f->total, unit, 100.0 * (double)f->total / (double)total,
			x * WIDTH, y, w * WIDTH > 0.6 ? w * WIDTH - 0.5 : 0.1, ROW - 1, fill,
			fill, x * WIDTH + 3, y + ROW - 5);
		/* The label as the script would set it, for viewers without
		 * scripts: as many 7-pixel characters as fit. */
		double room = (w * WIDTH - 6) / 7;
		size_t fit = room > 0 ? (size_t)room : 0;
		if (fit >= 3) {
			if (f->name_length <= fit) {
				xml_text(out, f->name, f->name_length);
			} else {
				xml_text(out, f->name, fit - 2);
				fputs("..", out);
			}
		}
		fputs("</text></g>\n", out);
	}
	fputs("</svg>\n", out);
	free(nodes);
	return NULL;
}
